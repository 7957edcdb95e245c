package org.edgedistill.harness;

import android.os.Build;
import org.edgedistill.harness.core.DeviceInfo;

/** This phone as android.os.Build describes it. */
public final class AndroidDevice implements DeviceInfo {
    @Override
    public String name() {
        return Build.MANUFACTURER + " " + Build.MODEL;
    }

    @Override
    public String os() {
        return "Android " + Build.VERSION.RELEASE + " (API " + Build.VERSION.SDK_INT + ")";
    }

    /** The SoC where Android names it (API 31+), else the board's hardware name, with the ABIs. */
    @Override
    public String cpu() {
        String chip = Build.VERSION.SDK_INT >= Build.VERSION_CODES.S
                ? Build.SOC_MANUFACTURER + " " + Build.SOC_MODEL
                : Build.HARDWARE;
        return chip + " (" + String.join(", ", Build.SUPPORTED_ABIS) + ")";
    }

    @Override
    public Integer cores() {
        return Runtime.getRuntime().availableProcessors();
    }
}
