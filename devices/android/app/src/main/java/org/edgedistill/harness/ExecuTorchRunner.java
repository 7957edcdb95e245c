package org.edgedistill.harness;

import java.nio.FloatBuffer;
import java.nio.file.Path;
import org.edgedistill.harness.core.Job;
import org.edgedistill.harness.core.Runner;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/** A .pte through ExecuTorch's Android Module API; the AAR includes the XNNPACK backend. */
final class ExecuTorchRunner implements Runner {
    private final Module module;
    private final FloatBuffer input;
    private final Tensor tensor;

    ExecuTorchRunner(Path pte, Job job) {
        // numThreads sizes XNNPACK's process-wide thread pool, as the host harness does with
        // _unsafe_reset_threadpool(threads).
        module = Module.load(pte.toString(), Module.LOAD_MODE_FILE, job.threads);
        long[] shape = new long[job.inputShape.length];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = job.inputShape[i];
        }
        // A tensor made from a direct buffer reads it at each call without copying it, so one
        // buffer is refilled per call instead of allocating a tensor per call.
        input = Tensor.allocateFloatBuffer(job.inputSize());
        tensor = Tensor.fromBlob(input, shape);
    }

    @Override
    public float[] run(float[] nchwInput) {
        input.clear();
        input.put(nchwInput);
        return module.forward(EValue.from(tensor))[0].toTensor().getDataAsFloatArray();
    }

    @Override
    public void close() {
        module.destroy();
    }
}
