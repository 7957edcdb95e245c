import Foundation

/// Runs the jobs of a staged bundle, each as `measure` in devices/harness.py does, and writes each
/// result as devices/result.schema.json describes it.
@MainActor
public enum Harness {
    /// The job files of the staged bundle (`jobs/*.properties`), in name order; none in the repository's placeholder.
    public static func jobFiles(in staged: URL) throws -> [URL] {
        let folder = staged.appendingPathComponent("jobs")
        guard FileManager.default.fileExists(atPath: folder.path) else {
            return []
        }
        return try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "properties" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    /// Runs one job; returns its result as one line of JSON, or throws with a one-line reason.
    public static func run(jobFile: URL, staged: URL) async throws -> String {
        let job = try Job(contentsOf: jobFile)
        let model = staged.appendingPathComponent(job.artifact)
        let digest = try Sha256.of(model)
        guard digest == job.sha256 else {
            throw HarnessError("\(job.artifact) does not match its sha256 (\(digest), the bundle says \(job.sha256)); stage the bundle again")
        }
        // Every job runs in the test's one process, so the lifetime peak is this job's only if it rises here.
        let peakBefore = Memory.peakFootprint()

        let golden = try Golden(folder: staged.appendingPathComponent("golden"), job: job)  // off the clock, as in Python
        let started = now()
        let runner = try await load(job, model)
        _ = try golden.withInput(0) { try runner.run($0) }  // the first call finishes loading (delegate setup, allocation)
        let loadMilliseconds = milliseconds(since: started)

        let latency = try time(runner, on: golden, job)
        var peakMegabytes: Any = NSNull()  // JSON null: unknown, or an earlier job of this run peaked higher
        if let before = peakBefore, let after = Memory.peakFootprint(), after > before {
            peakMegabytes = Double(after) / 1024 / 1024
        }
        let logits = try (0 ..< golden.count).map { index in try golden.withInput(index) { try runner.run($0) } }
        let agreement = try Agreement.compare(logits, with: golden)

        var delegate: Any = NSNull()  // the driver writes a missing delegate as an empty value
        if !job.delegate.isEmpty {
            delegate = job.delegate
        }
        let result: [String: Any] = [
            "schema_version": 1,
            "device": Device.describe(threads: job.threads),
            "runtime": [
                "format": job.format,
                "delegate": delegate,
                "versions": job.format == "coreml" ? ["coreml": Device.system] : ["executorch": ExecuTorchRunner.version],
            ] as [String: Any],
            "model": [
                "file": job.artifact, "sha256": job.sha256, "size_bytes": job.sizeBytes, "precision": job.precision,
            ] as [String: Any],
            "load_ms": loadMilliseconds,
            "latency_ms": latency,
            "peak_memory_mb": peakMegabytes,
            "agreement": agreement,
            "created": timestamp(),
        ]
        guard JSONSerialization.isValidJSONObject(result) else {
            throw HarnessError("the result holds a value JSON cannot (an infinite time?)")
        }
        let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)  // one line: no .prettyPrinted
    }

    private static func load(_ job: Job, _ model: URL) async throws -> any Runner {
        switch job.format {
        case "coreml":
            return try await CoreMLRunner.load(model, inputShape: job.inputShape)
        case "executorch":
            return try ExecuTorchRunner(model: model, inputShape: job.inputShape)
        default:
            throw HarnessError("\(job.format) does not run in the iOS harness, which runs coreml and executorch")
        }
    }

    /// `time_runner` of devices/harness.py: warm-up calls, then timed calls cycling through the golden
    /// inputs, `iterations` of them, or for at least `minSeconds` and 10 calls; each call timed alone.
    private static func time(_ runner: any Runner, on golden: Golden, _ job: Job) throws -> [String: Any] {
        for index in 0 ..< job.warmup {
            _ = try golden.withInput(index % golden.count) { try runner.run($0) }
        }
        var samples: [Double] = []
        let started = now()
        func needsMore() -> Bool {
            if job.iterations > 0 {
                return samples.count < job.iterations
            }
            return Double(now() - started) / 1e9 < job.minSeconds || samples.count < 10
        }
        while needsMore() {
            try golden.withInput(samples.count % golden.count) { input in
                let begin = now()
                _ = try runner.run(input)
                samples.append(milliseconds(since: begin))
            }
        }
        return Latency.summary(samples, warmup: job.warmup)
    }

    /// A monotonic clock in nanoseconds (mach_absolute_time), which no clock adjustment moves.
    private static func now() -> UInt64 {
        DispatchTime.now().uptimeNanoseconds
    }

    private static func milliseconds(since start: UInt64) -> Double {
        Double(now() - start) / 1_000_000
    }

    /// Local time with its UTC offset, as Python's time.strftime("%Y-%m-%dT%H:%M:%S%z").
    private static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ssZ"
        return formatter.string(from: Date())
    }
}
