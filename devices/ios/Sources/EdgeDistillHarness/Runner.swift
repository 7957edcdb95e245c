/// A loaded model, run one batch-1 input at a time, as `Runner` in devices/harness.py.
///
/// Runners live on the main actor with the rest of the harness: one job at a time, on the thread
/// of the highest priority, while the runtimes use their own threads for the work.
@MainActor
protocol Runner: AnyObject {
    /// The logits (C values) of one input: the job's input shape in float32, C order, read in place.
    func run(_ input: UnsafeMutablePointer<Float>) throws -> [Float]
}
