package org.edgedistill.harness.core;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The artifact's answers on the golden set against the fp32 student's and the teacher's, as
 * devices/harness.py (agreement) computes them: each golden input run once at batch 1, top-1 by
 * numpy's argmax (the first maximum), differences in float32 like the Python float32 arrays.
 */
public final class Agreement {
    private Agreement() {}

    public static Map<String, Object> measure(Runner runner, Golden golden) {
        int n = golden.inputs.length;
        int sameAsStudent = 0;
        int correct = 0;
        int sameAsTeacher = 0;
        float maxDiff = 0f;
        for (int i = 0; i < n; i++) {
            float[] logits = runner.run(golden.inputs[i]);
            float[] student = golden.student[i];
            if (logits.length != student.length) {
                throw new HarnessException("the model returned " + logits.length + " values for golden input " + i
                        + ", but the bundle has " + student.length + " classes");
            }
            int top = argmax(logits);
            sameAsStudent += top == argmax(student) ? 1 : 0;
            correct += top == golden.labels[i] ? 1 : 0;
            if (golden.teacher != null) {
                sameAsTeacher += top == argmax(golden.teacher[i]) ? 1 : 0;
            }
            for (int c = 0; c < logits.length; c++) {
                maxDiff = Math.max(maxDiff, Math.abs(logits[c] - student[c])); // NaN propagates, as in numpy
            }
        }
        Map<String, Object> agreement = new LinkedHashMap<>();
        agreement.put("golden_count", n);
        agreement.put("top1_agreement_student", (double) sameAsStudent / n);
        agreement.put("max_abs_logit_diff_student", (double) maxDiff);
        agreement.put("field_acc", (double) correct / n);
        agreement.put("top1_agreement_teacher", golden.teacher == null ? null : (double) sameAsTeacher / n);
        return agreement;
    }

    /** numpy's argmax: the index of the first maximum, or of the first NaN if there is one. */
    static int argmax(float[] values) {
        int best = 0;
        for (int i = 0; i < values.length; i++) {
            if (Float.isNaN(values[i])) {
                return i;
            }
            if (values[i] > values[best]) {
                best = i;
            }
        }
        return best;
    }
}
