package org.edgedistill.harness.core;

import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Collections;

/**
 * The Android harness's core on a machine without Android or a runtime, for the test suite:
 *
 * <pre>
 *   java -cp CLASSES org.edgedistill.harness.core.HostCheck run STAGED_DIR JOB_FILE OUT_JSON
 *   java -cp CLASSES org.edgedistill.harness.core.HostCheck stats MS [MS ...]
 * </pre>
 *
 * {@code run} runs a job of a staged bundle (JOB_FILE relative to STAGED_DIR, as on the phone) with
 * a {@link ReplayRunner} in place of the runtime and writes the result JSON; {@code stats} prints
 * the latency summary of the given milliseconds. A failure prints one "error: ..." line on stderr
 * and exits with status 1, as devices/harness.py does.
 */
public final class HostCheck {
    private HostCheck() {}

    public static void main(String[] args) {
        try {
            if (args.length == 4 && args[0].equals("run")) {
                run(Paths.get(args[1]), args[2], Paths.get(args[3]));
            } else if (args.length >= 2 && args[0].equals("stats")) {
                stats(args);
            } else {
                System.err.println("usage: HostCheck run STAGED_DIR JOB_FILE OUT_JSON | HostCheck stats MS [MS ...]");
                System.exit(2);
            }
        } catch (HarnessException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(1);
        }
    }

    private static void run(Path staged, String jobFile, Path out) {
        Job job = Job.read(staged.resolve(jobFile));
        Golden golden = Golden.read(staged.resolve("golden"), job);
        String java = System.getProperty("java.version");
        try {
            ResultJson.write(Harness.bench(staged, job, (artifact, j) -> new ReplayRunner(golden), new JvmDevice(),
                    Collections.singletonMap("java", java)), out);
        } catch (IOException e) {
            throw new HarnessException("cannot write " + out + " (" + HarnessException.describe(e) + ")");
        }
    }

    private static void stats(String[] args) {
        double[] ms = new double[args.length - 1];
        for (int i = 1; i < args.length; i++) {
            try {
                ms[i - 1] = Double.parseDouble(args[i]);
            } catch (NumberFormatException e) {
                throw new HarnessException("'" + args[i] + "' is not a number of milliseconds");
            }
        }
        System.out.println(ResultJson.format(Latency.summary(ms, 0)));
    }

    /** This machine as Java's system properties describe it. */
    private static final class JvmDevice implements DeviceInfo {
        @Override
        public String name() {
            String host = System.getenv("HOSTNAME");
            return host == null || host.isEmpty() ? "localhost" : host;
        }

        @Override
        public String os() {
            return System.getProperty("os.name") + " " + System.getProperty("os.version");
        }

        @Override
        public String cpu() {
            return System.getProperty("os.arch");
        }

        @Override
        public Integer cores() {
            return Runtime.getRuntime().availableProcessors();
        }
    }
}
