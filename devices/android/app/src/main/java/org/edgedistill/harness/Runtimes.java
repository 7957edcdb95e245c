package org.edgedistill.harness;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.edgedistill.harness.core.HarnessException;
import org.edgedistill.harness.core.Job;
import org.edgedistill.harness.core.Runner;

/** The runtimes this app links, picked by a job's format, and their versions for the result. */
public final class Runtimes {
    private Runtimes() {}

    /** Recorded in every result, like the package versions devices/harness.py records. */
    public static Map<String, String> versions() {
        Map<String, String> versions = new LinkedHashMap<>();
        versions.put("executorch-android", BuildConfig.EXECUTORCH_VERSION);
        versions.put("litert", BuildConfig.LITERT_VERSION);
        return versions;
    }

    /** A Harness.RunnerFactory. */
    public static Runner open(Path artifact, Job job) {
        switch (job.format) {
            case "executorch":
                return new ExecuTorchRunner(artifact, job);
            case "tflite":
                return new LiteRtRunner(artifact, job);
            default:
                throw new HarnessException(job.artifact + ": " + job.format
                        + " cannot run on Android; Core ML runs on macOS and iOS (--device host on a Mac, or ios:UDID)");
        }
    }
}
