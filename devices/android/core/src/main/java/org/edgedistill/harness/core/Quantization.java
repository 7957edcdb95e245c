package org.edgedistill.harness.core;

/**
 * int8/uint8 model tensors as devices/harness.py (_quantize, _dequantize) handles them with the
 * tensor's own scale and zero point: float32 arithmetic as numpy does it on float32 arrays, round
 * half to even (np.round), clip to the integer type's range.
 */
public final class Quantization {
    private Quantization() {}

    public static int quantize(float value, float scale, int zeroPoint, int min, int max) {
        float scaled = value / scale + zeroPoint;
        return (int) Math.max(min, Math.min(max, Math.rint(scaled)));
    }

    public static float dequantize(int value, float scale, int zeroPoint) {
        return ((float) value - zeroPoint) * scale;
    }
}
