import Foundation

/// One `jobs/<artifact>.properties` file of the staged bundle: which model to run and how.
struct Job {
    let artifact: String  // file (or .mlpackage directory) name inside the staged folder
    let format: String  // coreml | executorch (tflite jobs are not sent to iOS)
    let delegate: String  // free text; empty means none
    let precision: String
    let sha256: String
    let sizeBytes: Int
    let goldenCount: Int
    let inputShape: [Int]  // batch 1: 1,3,H,W
    let numClasses: Int
    let hasTeacher: Bool
    let threads: Int
    let warmup: Int
    let iterations: Int  // 0: time for minSeconds and at least 10 calls
    let minSeconds: Double
    let goldenSha256: [String: String]  // golden file name -> sha256 of its bytes (keys NAME.sha256)

    /// Reads the key=value lines the driver writes (java.util.Properties syntax without escapes,
    /// which its ASCII values never need).
    init(contentsOf url: URL) throws {
        var values: [String: String] = [:]
        for line in try String(contentsOf: url, encoding: .utf8).split(whereSeparator: \.isNewline) {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty, !text.hasPrefix("#"), !text.hasPrefix("!"), let equals = text.firstIndex(of: "=") else {
                continue
            }
            let key = text[..<equals].trimmingCharacters(in: .whitespaces)
            values[key] = text[text.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        func string(_ key: String) throws -> String {
            guard let value = values[key] else { throw HarnessError("\(url.lastPathComponent) has no \(key)=") }
            return value
        }
        func number<T: LosslessStringConvertible>(_ key: String) throws -> T {
            let text = try string(key)
            guard let value = T(text) else { throw HarnessError("\(url.lastPathComponent): \(key)=\(text) is not a number") }
            return value
        }
        artifact = try string("artifact")
        format = try string("format")
        delegate = try string("delegate")
        precision = try string("precision")
        sha256 = try string("sha256").lowercased()
        sizeBytes = try number("size_bytes")
        goldenCount = try number("golden_count")
        inputShape = try string("input_shape").split(separator: ",").map { part -> Int in
            guard let size = Int(part.trimmingCharacters(in: .whitespaces)) else {
                throw HarnessError("\(url.lastPathComponent): input_shape has \(part), not a size")
            }
            return size
        }
        numClasses = try number("num_classes")
        hasTeacher = try string("has_teacher") == "true"
        threads = try number("threads")
        warmup = try number("warmup")
        iterations = try number("iterations")
        minSeconds = try number("min_seconds")
        var digests: [String: String] = [:]
        for name in ["inputs.f32", "labels.i32", "student_logits.f32"] + (hasTeacher ? ["teacher_logits.f32"] : []) {
            digests[name] = try string("\(name).sha256").lowercased()
        }
        goldenSha256 = digests
    }
}
