import Foundation

/// The latency summary of devices/harness.py (`latency_summary`), in milliseconds, with NumPy's definitions.
enum Latency {
    static func summary(_ milliseconds: [Double], warmup: Int) -> [String: Any] {
        let sorted = milliseconds.sorted()
        let n = sorted.count
        // The middle 80%: Python's int(n * 0.1) from each end. (NumPy's fallback to all values when
        // n <= 2 * cut cannot happen: cut is at most n / 10.)
        let cut = Int(Double(n) * 0.1)
        let middle = sorted[cut ..< n - cut]
        // Plain sums: NumPy's are pairwise, so mean and std can differ from it in the last bits (~1e-15).
        let mean = sorted.reduce(0, +) / Double(n)
        let variance = sorted.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)  // population: / n
        return [
            "warmup": warmup,
            "iterations": n,
            "min": sorted[0],
            "p50": percentile(sorted, 50),
            "p90": percentile(sorted, 90),
            "p99": percentile(sorted, 99),
            "mean": mean,
            "std": variance.squareRoot(),
            "trimmed_mean_80": middle.reduce(0, +) / Double(middle.count),
        ]
    }

    /// `numpy.percentile(sorted, q)` with its default 'linear' method, to the bit: position q/100 * (n - 1),
    /// and between its neighbours NumPy's `_lerp`, which works from the nearer end.
    static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        let last = sorted.count - 1
        let position = Double(last) * (q / 100)
        if position >= Double(last) {
            return sorted[last]
        }
        let below = position.rounded(.down)
        let (a, b, t) = (sorted[Int(below)], sorted[Int(below) + 1], position - below)
        return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t
    }
}
