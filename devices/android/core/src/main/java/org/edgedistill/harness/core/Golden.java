package org.edgedistill.harness.core;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The bundle's golden set as devices/staging.py stages it: raw little-endian C-order arrays in
 * golden/, read whole with java.nio and split into one row per image, so a batch-1 call takes a row.
 */
public final class Golden {
    public final float[][] inputs; // N rows of 3*H*W: normalised NCHW model inputs
    public final int[] labels; // N true classes
    public final float[][] student; // N rows of C: the fp32 PyTorch student's logits (the reference)
    public final float[][] teacher; // N rows of C, or null when the bundle has no teacher

    private Golden(float[][] inputs, int[] labels, float[][] student, float[][] teacher) {
        this.inputs = inputs;
        this.labels = labels;
        this.student = student;
        this.teacher = teacher;
    }

    /**
     * Reads golden/ of a staged bundle, checking each file's size against the job's shapes and its
     * bytes against the sha256 in the job file: altered golden data would give wrong agreement figures
     * that look right.
     */
    public static Golden read(Path dir, Job job) {
        int n = job.goldenCount;
        int classes = job.numClasses;
        int[] labels = new int[n];
        data(dir.resolve("labels.i32"), n, job).asIntBuffer().get(labels);
        return new Golden(
                rows(dir.resolve("inputs.f32"), n, job.inputSize(), job),
                labels,
                rows(dir.resolve("student_logits.f32"), n, classes, job),
                job.hasTeacher ? rows(dir.resolve("teacher_logits.f32"), n, classes, job) : null);
    }

    private static float[][] rows(Path file, int count, int width, Job job) {
        FloatBuffer values = data(file, (long) count * width, job).asFloatBuffer();
        float[][] rows = new float[count][width];
        for (float[] row : rows) {
            values.get(row);
        }
        return rows;
    }

    /**
     * The file's bytes, little-endian, after checking it holds exactly {@code values} 4-byte values and
     * matches its sha256 in the job file.
     */
    private static ByteBuffer data(Path file, long values, Job job) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new HarnessException("cannot read " + file + " (" + HarnessException.describe(e) + "); push the bundle again");
        }
        if (bytes.length != values * 4) {
            throw new HarnessException(file + " has " + bytes.length + " bytes, but the job's shapes need "
                    + values * 4 + "; stage and push the bundle again");
        }
        if (!Sha256.of(bytes).equals(job.goldenSha256(file.getFileName().toString()))) {
            throw new HarnessException(file + " does not match its sha256 in the job file; stage and push the bundle again");
        }
        return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }
}
