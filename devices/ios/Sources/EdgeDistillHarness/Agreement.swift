import Foundation

/// The model's answers on the golden set against the fp32 student's, the labels' and the teacher's:
/// `agreement` of devices/harness.py.
enum Agreement {
    /// `logits`: one row of C values per golden input, in order.
    static func compare(_ logits: [[Float]], with golden: Golden) throws -> [String: Any] {
        var student = 0, field = 0, teacher = 0
        var maxDifference: Float = 0  // Float, as NumPy subtracts float32 arrays
        for (index, row) in logits.enumerated() {
            guard row.count == golden.classes else {
                throw HarnessError("the model gave \(row.count) logits, the bundle has \(golden.classes) classes")
            }
            // JSON has no NaN, and a model that gives one is broken: say so rather than write a number.
            guard row.allSatisfy(\.isFinite) else {
                throw HarnessError("the model gave non-finite logits for golden input \(index)")
            }
            let top = argmax(row)
            let reference = golden.student(index)
            if top == argmax(reference) { student += 1 }
            if top == Int(golden.labels[index]) { field += 1 }
            if let answers = golden.teacher(index), top == argmax(answers) { teacher += 1 }
            for (mine, theirs) in zip(row, reference) {
                maxDifference = max(maxDifference, abs(mine - theirs))
            }
        }
        let count = Double(logits.count)
        var teacherShare: Any = NSNull()  // JSON null when the bundle has no teacher
        if golden.hasTeacher {
            teacherShare = Double(teacher) / count
        }
        return [
            "golden_count": logits.count,
            "top1_agreement_student": Double(student) / count,
            "max_abs_logit_diff_student": Double(maxDifference),
            "field_acc": Double(field) / count,
            "top1_agreement_teacher": teacherShare,
        ]
    }

    /// NumPy's argmax: the index of the first largest value.
    static func argmax<S: Sequence>(_ values: S) -> Int where S.Element == Float {
        var best = 0
        var top = -Float.infinity
        for (index, value) in values.enumerated() where index == 0 || value > top {
            (best, top) = (index, value)
        }
        return best
    }
}
