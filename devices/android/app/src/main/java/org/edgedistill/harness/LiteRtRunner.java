package org.edgedistill.harness;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import org.edgedistill.harness.core.HarnessException;
import org.edgedistill.harness.core.Job;
import org.edgedistill.harness.core.Quantization;
import org.edgedistill.harness.core.Runner;
import org.tensorflow.lite.DataType;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.Tensor;

/**
 * A .tflite through LiteRT's Interpreter with its default XNNPACK delegate, as on the host. int8
 * files may take and give int8/uint8 tensors: inputs are quantized and outputs dequantized with
 * each tensor's own scale and zero point, as the host harness and an app do.
 */
final class LiteRtRunner implements Runner {
    private final Interpreter interpreter;
    private final Tensor given;
    private final Tensor taken;
    private final ByteBuffer input;
    private final ByteBuffer output;

    LiteRtRunner(Path tflite, Job job) {
        interpreter = new Interpreter(tflite.toFile(), new Interpreter.Options().setNumThreads(job.threads));
        given = checked(interpreter.getInputTensor(0), "input");
        taken = checked(interpreter.getOutputTensor(0), "output");
        if (given.numElements() != job.inputSize()) {
            interpreter.close();
            throw new HarnessException(job.artifact + " takes an input of shape " + Arrays.toString(given.shape())
                    + ", but the job's input_shape is " + Arrays.toString(job.inputShape));
        }
        input = ByteBuffer.allocateDirect(given.numBytes()).order(ByteOrder.nativeOrder());
        output = ByteBuffer.allocateDirect(taken.numBytes()).order(ByteOrder.nativeOrder());
    }

    @Override
    public float[] run(float[] nchwInput) {
        input.clear();
        if (given.dataType() == DataType.FLOAT32) {
            input.asFloatBuffer().put(nchwInput);
        } else {
            Tensor.QuantizationParams q = given.quantizationParams();
            int min = given.dataType() == DataType.INT8 ? Byte.MIN_VALUE : 0;
            int max = given.dataType() == DataType.INT8 ? Byte.MAX_VALUE : 255;
            for (float value : nchwInput) {
                input.put((byte) Quantization.quantize(value, q.getScale(), q.getZeroPoint(), min, max));
            }
            input.rewind();
        }
        output.clear();
        interpreter.run(input, output);
        output.rewind();
        float[] logits = new float[taken.numElements()];
        if (taken.dataType() == DataType.FLOAT32) {
            output.asFloatBuffer().get(logits);
        } else {
            Tensor.QuantizationParams q = taken.quantizationParams();
            for (int i = 0; i < logits.length; i++) {
                byte raw = output.get(i);
                int value = taken.dataType() == DataType.INT8 ? raw : raw & 0xff;
                logits[i] = Quantization.dequantize(value, q.getScale(), q.getZeroPoint());
            }
        }
        return logits;
    }

    @Override
    public void close() {
        interpreter.close();
    }

    private Tensor checked(Tensor tensor, String role) {
        DataType type = tensor.dataType();
        if (type != DataType.FLOAT32 && type != DataType.INT8 && type != DataType.UINT8) {
            interpreter.close();
            throw new HarnessException("the model's " + role + " tensor is " + type
                    + "; the harness handles float32, int8 and uint8");
        }
        return tensor;
    }
}
