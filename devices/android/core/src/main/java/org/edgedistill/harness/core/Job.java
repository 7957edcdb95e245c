package org.edgedistill.harness.core;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Properties;

/**
 * One job file of a staged bundle (jobs/ARTIFACT.properties, written by devices/staging.py): which
 * model to run and how to time it. Every key is always present; a missing or malformed one is an error.
 */
public final class Job {
    public final String artifact;
    public final String format; // executorch | tflite | coreml
    public final String delegate; // null where the job file leaves it empty
    public final String precision;
    public final String sha256;
    public final long sizeBytes;
    public final int goldenCount;
    public final int[] inputShape; // batch 1: 1,3,H,W
    public final int numClasses;
    public final boolean hasTeacher;
    public final int threads;
    public final int warmup;
    public final int iterations; // 0: time for minSeconds and at least 10 calls instead
    public final double minSeconds;

    private final Properties settings;
    private final Path file;

    public static Job read(Path file) {
        Properties settings = new Properties();
        try (InputStream in = Files.newInputStream(file)) {
            settings.load(in);
        } catch (IOException e) {
            throw new HarnessException("cannot read the job file " + file + " (" + HarnessException.describe(e) + ")");
        }
        return new Job(settings, file);
    }

    private Job(Properties settings, Path file) {
        this.settings = settings;
        this.file = file;
        artifact = text("artifact");
        format = text("format");
        String given = text("delegate");
        delegate = given.isEmpty() ? null : given;
        precision = text("precision");
        sha256 = text("sha256").toLowerCase(Locale.ROOT);
        sizeBytes = whole("size_bytes", 1, Long.MAX_VALUE);
        goldenCount = count("golden_count", 1);
        inputShape = shape("input_shape");
        numClasses = count("num_classes", 1);
        hasTeacher = Boolean.parseBoolean(text("has_teacher"));
        threads = count("threads", 1);
        warmup = count("warmup", 0);
        iterations = count("iterations", 0);
        minSeconds = seconds("min_seconds");
        if (!Arrays.asList("executorch", "tflite", "coreml").contains(format)) {
            throw invalid("format", "executorch, tflite or coreml");
        }
    }

    /**
     * The sha256 devices/staging.py wrote for the raw golden file {@code name} (key NAME.sha256), which
     * the golden set is checked against when it is read.
     */
    public String goldenSha256(String name) {
        return text(name + ".sha256").toLowerCase(Locale.ROOT);
    }

    /** Values in one batch-1 input: 3 * H * W. */
    public int inputSize() {
        int size = 1;
        for (int dimension : inputShape) {
            size *= dimension;
        }
        return size;
    }

    private String text(String key) {
        String value = settings.getProperty(key);
        if (value == null) {
            throw new HarnessException(file + " has no '" + key + "'; stage the bundle again");
        }
        return value.trim();
    }

    private int count(String key, int minimum) {
        return (int) whole(key, minimum, Integer.MAX_VALUE);
    }

    private long whole(String key, long minimum, long maximum) {
        try {
            long value = Long.parseLong(text(key));
            if (value >= minimum && value <= maximum) {
                return value;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw invalid(key, "an integer >= " + minimum);
    }

    private double seconds(String key) {
        try {
            double value = Double.parseDouble(text(key));
            if (value >= 0 && !Double.isInfinite(value)) {
                return value;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw invalid(key, "a number of seconds >= 0");
    }

    private int[] shape(String key) {
        String value = text(key);
        if (!value.matches("1(,[1-9][0-9]*)+")) {
            throw invalid(key, "a batch-1 shape such as 1,3,96,96");
        }
        String[] parts = value.split(",");
        int[] shape = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            shape[i] = Integer.parseInt(parts[i]);
        }
        return shape;
    }

    private HarnessException invalid(String key, String expected) {
        return new HarnessException(
                file + ": '" + key + "' is '" + settings.getProperty(key) + "'; expected " + expected);
    }
}
