// The Android benchmark harness of edgedistill: a plain-Java core (testable on any JDK) and the app
// whose instrumentation test runs one benchmark job on a phone. See README.md.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google() // LiteRT, AndroidX
        mavenCentral() // ExecuTorch
    }
}

rootProject.name = "edgedistill-android-harness"
include(":core", ":app")
