package org.edgedistill.harness.core;

/**
 * A job that cannot run, with the one line the user reads. On Android it fails the instrumentation
 * test, so {@code am instrument} prints "...HarnessException: MESSAGE", which the Python driver
 * (devices/adb.py) reads back; on the host HostCheck prints it as "error: MESSAGE".
 */
public final class HarnessException extends RuntimeException {
    public HarnessException(String message) {
        this(message, null);
    }

    public HarnessException(String message, Throwable cause) {
        super(oneLine(message), cause);
    }

    /** "Class: message" of an unexpected exception, to quote inside a one-line error. */
    public static String describe(Throwable error) {
        String message = error.getMessage();
        return error.getClass().getSimpleName() + (message == null ? "" : ": " + message);
    }

    /** Runtime messages may span lines; the driver reads only the line with the exception. */
    private static String oneLine(String text) {
        return text.trim().replaceAll("\\s*[\\r\\n]+\\s*", " | ");
    }
}
