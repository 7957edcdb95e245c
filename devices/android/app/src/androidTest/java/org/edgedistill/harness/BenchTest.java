package org.edgedistill.harness;

import android.os.Bundle;
import androidx.test.ext.junit.runners.AndroidJUnit4;
import androidx.test.platform.app.InstrumentationRegistry;
import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Map;
import org.edgedistill.harness.core.Harness;
import org.edgedistill.harness.core.HarnessException;
import org.edgedistill.harness.core.Job;
import org.edgedistill.harness.core.ResultJson;
import org.junit.Test;
import org.junit.runner.RunWith;

/**
 * One benchmark job per instrumentation run, as the Python driver (devices/adb.py) starts it:
 *
 * <pre>
 * adb shell am instrument -w -e bundle /data/local/tmp/edgedistill/NAME -e job jobs/ARTIFACT.properties \
 *     org.edgedistill.harness.test/androidx.test.runner.AndroidJUnitRunner
 * </pre>
 *
 * The result goes to the app's external files folder, results/ARTIFACT.json
 * (/sdcard/Android/data/org.edgedistill.harness/files/results/), where adb can pull it. On failure
 * the test fails with a one-line HarnessException, which am instrument prints, and writes nothing.
 */
@RunWith(AndroidJUnit4.class)
public final class BenchTest {
    @Test
    public void bench() {
        Bundle arguments = InstrumentationRegistry.getArguments();
        String bundle = arguments.getString("bundle");
        String jobFile = arguments.getString("job");
        if (bundle == null || jobFile == null) {
            throw new HarnessException("name the job: am instrument -w -e bundle DIR -e job jobs/ARTIFACT.properties ...");
        }
        Path staged = Paths.get(bundle);
        Job job = Job.read(staged.resolve(jobFile));
        Map<String, Object> result = Harness.bench(staged, job, Runtimes::open, new AndroidDevice(), Runtimes.versions());
        File files = InstrumentationRegistry.getInstrumentation().getTargetContext().getExternalFilesDir(null);
        if (files == null) {
            throw new HarnessException("the app has no external files folder to write the result to (shared storage unmounted?)");
        }
        File out = new File(files, "results/" + job.artifact + ".json");
        try {
            ResultJson.write(result, out.toPath());
        } catch (IOException e) {
            throw new HarnessException("cannot write " + out + " (" + HarnessException.describe(e) + ")");
        }
    }
}
