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
        inputs = try Golden.read(folder, "inputs.f32", count: n * size, job: job)
        labels = try Golden.read(folder, "labels.i32", count: n, job: job)
        studentLogits = try Golden.read(folder, "student_logits.f32", count: n * c, job: job)
        if job.hasTeacher {
            teacherLogits = try Golden.read(folder, "teacher_logits.f32", count: n * c, job: job)
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

    /// `count` 4-byte values (Float or Int32) of a raw file, whose size must be exactly that and whose bytes
    /// must match their sha256 in the job file (altered golden data would give wrong figures that look right).
    private static func read<T>(_ folder: URL, _ name: String, count: Int, job: Job) throws -> [T] {
        let data = try Data(contentsOf: folder.appendingPathComponent(name))
        let expected = count * MemoryLayout<T>.stride
        guard data.count == expected else {
            throw HarnessError("golden/\(name) has \(data.count) bytes, the job expects \(expected)")
        }
        guard Sha256.of(data: data) == job.goldenSha256[name] else {
            throw HarnessError("golden/\(name) does not match its sha256 in the job file; stage the bundle again")
        }
        // Copied rather than bound: Data's bytes need not be aligned for T.
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = data.copyBytes(to: buffer) / MemoryLayout<T>.stride
        }
    }
}
