package org.edgedistill.harness.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A stand-in runtime for machines without one (HostCheck): answers each golden input with the fp32
 * student's logits for that input, found by exact equality of the values, so everything around the
 * runtime can be checked against the Python harness; agreement with the student is then exact.
 */
public final class ReplayRunner implements Runner {
    private final Golden golden;
    private final Map<Integer, List<Integer>> rowsByHash = new HashMap<>();

    public ReplayRunner(Golden golden) {
        this.golden = golden;
        for (int row = 0; row < golden.inputs.length; row++) {
            rowsByHash.computeIfAbsent(Arrays.hashCode(golden.inputs[row]), key -> new ArrayList<>()).add(row);
        }
    }

    @Override
    public float[] run(float[] nchwInput) {
        for (int row : rowsByHash.getOrDefault(Arrays.hashCode(nchwInput), Collections.emptyList())) {
            if (Arrays.equals(golden.inputs[row], nchwInput)) {
                return golden.student[row].clone();
            }
        }
        throw new IllegalArgumentException("the replay runner was given an input that is not in the golden set");
    }

    @Override
    public void close() {}
}
