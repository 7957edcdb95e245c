package org.edgedistill.harness.core;

/**
 * What the result says about the machine: Android fills it from android.os.Build, the host check
 * from Java's system properties.
 */
public interface DeviceInfo {
    String name();

    String os();

    String cpu();

    /** Logical CPU cores, or null when unknown. */
    Integer cores();
}
