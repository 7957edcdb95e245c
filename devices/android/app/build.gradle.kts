plugins {
    id("com.android.application")
}

// The runtimes' versions, used for the dependencies and written into every result (BuildConfig).
// ExecuTorch matches the executorch wheel that exports the .pte files (pyproject: executorch>=1.5,<1.6),
// LiteRT the ai-edge-litert wheel the host harness runs (2.3).
val executorchVersion = "1.5.1"
val litertVersion = "2.3.0"

android {
    namespace = "org.edgedistill.harness"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.edgedistill.harness"
        minSdk = 26 // java.nio.file, which the core reads the staged bundle with
        targetSdk = 35
        versionCode = 1
        versionName = "1.0"
        testInstrumentationRunner = "androidx.test.runner.AndroidJUnitRunner"
        buildConfigField("String", "EXECUTORCH_VERSION", "\"$executorchVersion\"")
        buildConfigField("String", "LITERT_VERSION", "\"$litertVersion\"")
        ndk {
            abiFilters += listOf("arm64-v8a", "x86_64") // the ABIs the ExecuTorch AAR ships
        }
    }

    buildFeatures {
        buildConfig = true
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

dependencies {
    implementation(project(":core"))
    // In the app, not the test APK: the instrumentation runs in the app's process, whose native
    // library folder is where libexecutorch.so and LiteRT's JNI library are loaded from.
    implementation("org.pytorch:executorch-android:$executorchVersion")
    implementation("com.google.ai.edge.litert:litert:$litertVersion")

    androidTestImplementation("androidx.test:runner:1.7.0")
    androidTestImplementation("androidx.test.ext:junit:1.3.0")
    androidTestImplementation("junit:junit:4.13.2")
}
