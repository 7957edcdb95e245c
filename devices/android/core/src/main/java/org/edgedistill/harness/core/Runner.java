package org.edgedistill.harness.core;

/** One loaded model: a batch-1 input (1, 3, H, W) as C-order float32 values in, its logits out. */
public interface Runner extends AutoCloseable {
    float[] run(float[] nchwInput);

    /** Frees the runtime's native memory; a runner is closed once, after its job. */
    @Override
    void close();
}
