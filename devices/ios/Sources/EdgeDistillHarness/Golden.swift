import Foundation

/// The golden set of the staged bundle (`golden/*.f32`, `golden/*.i32`): raw little-endian arrays in C order,
/// which every Apple CPU reads as they are.
final class Golden {
    let count: Int  // N
    let classes: Int  // C
    let labels: [Int32]  // (N)
    private var inputs: [Float]  // (N, 3, H, W); var only so the runners can read it in place
    private let inputSize: Int
    private let studentLogits: [Float]  // (N, C), the fp32 PyTorch student's
    private let teacherLogits: [Float]?  // (N, C), nil when the bundle has no teacher

    init(folder: URL, job: Job) throws {
        let (n, c, size) = (job.goldenCount, job.numClasses, job.inputShape.dropFirst().reduce(1, *))
        count = n
        classes = c
        inputSize = size
        inputs = try Golden.read(folder.appendingPathComponent("inputs.f32"), count: n * size)
        labels = try Golden.read(folder.appendingPathComponent("labels.i32"), count: n)
        studentLogits = try Golden.read(folder.appendingPathComponent("student_logits.f32"), count: n * c)
        if job.hasTeacher {
            teacherLogits = try Golden.read(folder.appendingPathComponent("teacher_logits.f32"), count: n * c)
        } else {
            teacherLogits = nil
        }
    }

    var hasTeacher: Bool { teacherLogits != nil }

    /// Calls `body` with golden input `index` in place (no copy, so a timed call does not time a copy).
    func withInput<R>(_ index: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try inputs.withUnsafeMutableBufferPointer { try body($0.baseAddress! + index * inputSize) }
    }

    func student(_ index: Int) -> ArraySlice<Float> {
        studentLogits[index * classes ..< (index + 1) * classes]
    }

    func teacher(_ index: Int) -> ArraySlice<Float>? {
        teacherLogits?[index * classes ..< (index + 1) * classes]
    }

    /// `count` 4-byte values (Float or Int32) of a raw file, whose size must be exactly that.
    private static func read<T>(_ url: URL, count: Int) throws -> [T] {
        let data = try Data(contentsOf: url)
        let expected = count * MemoryLayout<T>.stride
        guard data.count == expected else {
            throw HarnessError("golden/\(url.lastPathComponent) has \(data.count) bytes, the job expects \(expected)")
        }
        // Copied rather than bound: Data's bytes need not be aligned for T.
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = data.copyBytes(to: buffer) / MemoryLayout<T>.stride
        }
    }
}
