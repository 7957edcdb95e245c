// Runtime-independent harness logic, only java.*: compiled with javac and checked against the
// Python harness on any machine (HostCheck), and linked into the Android app.
plugins {
    `java-library`
}

tasks.withType<JavaCompile>().configureEach {
    // Java 8 APIs only (plus java.nio.file and java.time, which Android has from API 26, the app's minSdk).
    options.release.set(8)
}
