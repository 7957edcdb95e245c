package org.edgedistill.harness.core;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One job of a staged bundle, run the way devices/harness.py runs an artifact: check its sha256,
 * time the load (up to and including the first inference), warm up, time batch-1 calls one by one,
 * then run the golden set for agreement. The result follows devices/result.schema.json.
 */
public final class Harness {
    private Harness() {}

    /** Loads an artifact with a runtime; Android picks ExecuTorch or LiteRT, the host check a replay. */
    public interface RunnerFactory {
        Runner open(Path artifact, Job job) throws Exception;
    }

    public static Map<String, Object> bench(
            Path staged, Job job, RunnerFactory runtime, DeviceInfo device, Map<String, String> versions) {
        Path artifact = staged.resolve(job.artifact);
        checkSha256(artifact, job);
        Golden golden = Golden.read(staged.resolve("golden"), job);
        try {
            long started = System.nanoTime();
            try (Runner runner = runtime.open(artifact, job)) {
                runner.run(golden.inputs[0]); // the first call finishes loading (delegate setup, allocation)
                double loadMs = (System.nanoTime() - started) / 1e6;
                Map<String, Object> latency = Latency.summary(time(runner, golden.inputs, job), job.warmup);
                Map<String, Object> agreement = Agreement.measure(runner, golden);
                return result(job, device, versions, loadMs, latency, agreement);
            }
        } catch (HarnessException e) {
            throw e;
        } catch (Exception | LinkageError e) { // LinkageError: a runtime's native library that will not load
            throw new HarnessException(
                    job.artifact + " failed in the " + job.format + " runtime: " + HarnessException.describe(e), e);
        }
    }

    private static void checkSha256(Path artifact, Job job) {
        if (!Files.exists(artifact)) {
            throw new HarnessException(artifact + " is missing; push the bundle again");
        }
        String actual;
        try {
            actual = Sha256.of(artifact);
        } catch (IOException e) {
            throw new HarnessException("cannot read " + artifact + " (" + HarnessException.describe(e) + ")");
        }
        if (!actual.equals(job.sha256)) {
            throw new HarnessException(artifact + " does not match its sha256 in manifest.json; push the bundle again");
        }
    }

    /**
     * Warm-up calls on inputs i % N, then timed calls on input k % N: exactly job.iterations of them,
     * or (iterations 0) until job.minSeconds have passed and at least 10 calls were made. Each call
     * is timed alone; returns milliseconds.
     */
    static double[] time(Runner runner, float[][] inputs, Job job) {
        for (int i = 0; i < job.warmup; i++) {
            runner.run(inputs[i % inputs.length]);
        }
        List<Double> ms = new ArrayList<>();
        long started = System.nanoTime();
        long minNanos = (long) (job.minSeconds * 1e9);
        while (job.iterations > 0
                ? ms.size() < job.iterations
                : System.nanoTime() - started < minNanos || ms.size() < 10) {
            float[] sample = inputs[ms.size() % inputs.length];
            long begin = System.nanoTime();
            runner.run(sample);
            ms.add((System.nanoTime() - begin) / 1e6);
        }
        double[] values = new double[ms.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = ms.get(i);
        }
        return values;
    }

    private static Map<String, Object> result(Job job, DeviceInfo device, Map<String, String> versions,
            double loadMs, Map<String, Object> latency, Map<String, Object> agreement) {
        Map<String, Object> machine = new LinkedHashMap<>();
        machine.put("name", device.name());
        machine.put("os", device.os());
        machine.put("cpu", device.cpu());
        machine.put("cores", device.cores());
        machine.put("threads", job.threads);
        Map<String, Object> runtime = new LinkedHashMap<>();
        runtime.put("format", job.format);
        runtime.put("delegate", job.delegate);
        runtime.put("versions", new LinkedHashMap<>(versions));
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("file", job.artifact);
        model.put("sha256", job.sha256);
        model.put("size_bytes", job.sizeBytes);
        model.put("precision", job.precision);
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("schema_version", 1);
        result.put("device", machine);
        result.put("runtime", runtime);
        result.put("model", model);
        result.put("load_ms", loadMs);
        result.put("latency_ms", latency);
        result.put("peak_memory_mb", peakMemoryMb());
        result.put("agreement", agreement);
        result.put("created", ZonedDateTime.now().format(DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ssZ", Locale.ROOT)));
        return result;
    }

    /**
     * The process's peak resident set size in MB: VmHWM of /proc/self/status (in kB), which Linux
     * and Android both have; null where there is no /proc.
     */
    static Double peakMemoryMb() {
        try {
            for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
                }
            }
        } catch (IOException | RuntimeException e) {
            // no /proc here (macOS): unknown
        }
        return null;
    }
}
