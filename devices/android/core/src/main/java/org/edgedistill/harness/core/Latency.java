package org.edgedistill.harness.core;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The latency summary of devices/harness.py (latency_summary), computed the way numpy computes it,
 * so that a phone's figures and a host's are the same statistics to the last bit: numpy's default
 * ("linear") percentile, its pairwise summation in mean and std, std over n (not n - 1), and the
 * mean of the middle 80% of the sorted values.
 */
public final class Latency {
    private Latency() {}

    /** The latency_ms object of a result, from each timed call's milliseconds. */
    public static Map<String, Object> summary(double[] ms, int warmup) {
        double[] sorted = ms.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        int cut = (int) (n * 0.1);
        double[] middle = n > 2 * cut ? Arrays.copyOfRange(sorted, cut, n - cut) : sorted;
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("warmup", warmup);
        summary.put("iterations", n);
        summary.put("min", sorted[0]);
        summary.put("p50", percentile(sorted, 50));
        summary.put("p90", percentile(sorted, 90));
        summary.put("p99", percentile(sorted, 99));
        summary.put("mean", mean(sorted));
        summary.put("std", std(sorted));
        summary.put("trimmed_mean_80", mean(middle));
        return summary;
    }

    /** np.percentile(sorted, q): position q/100 * (n - 1), then numpy's _lerp between its neighbours. */
    static double percentile(double[] sorted, double q) {
        int last = sorted.length - 1;
        double position = last * (q / 100);
        if (position >= last) {
            return sorted[last];
        }
        int below = (int) Math.floor(position);
        double t = position - below;
        double a = sorted[below];
        double b = sorted[below + 1];
        double diff = b - a;
        // numpy interpolates from the nearer neighbour, which keeps the result monotonic in q
        return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
    }

    static double mean(double[] values) {
        return pairwiseSum(values, 0, values.length) / values.length;
    }

    /** ndarray.std(): the root of the mean squared deviation from the mean. */
    static double std(double[] values) {
        double mean = mean(values);
        double[] squares = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            double deviation = values[i] - mean;
            squares[i] = deviation * deviation;
        }
        return Math.sqrt(pairwiseSum(squares, 0, squares.length) / values.length);
    }

    /**
     * numpy's pairwise_sum for float64 (numpy/_core/src/umath/loops_utils.h.src): plain below 8
     * values, eight interleaved accumulators up to 128, else halves split at a multiple of 8.
     */
    static double pairwiseSum(double[] a, int from, int n) {
        if (n < 8) {
            double sum = 0.;
            for (int i = 0; i < n; i++) {
                sum += a[from + i];
            }
            return sum;
        }
        if (n <= 128) {
            double[] r = Arrays.copyOfRange(a, from, from + 8);
            int i = 8;
            for (; i < n - (n % 8); i += 8) {
                for (int j = 0; j < 8; j++) {
                    r[j] += a[from + i + j];
                }
            }
            double sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            for (; i < n; i++) {
                sum += a[from + i];
            }
            return sum;
        }
        int half = n / 2;
        half -= half % 8;
        return pairwiseSum(a, from, half) + pairwiseSum(a, from + half, n - half);
    }
}
