// swift-tools-version:5.9
// The on-device benchmark harness of edgedistill for iPhone and iPad (and, with `swift test`, the Mac):
// an XCTest that runs the jobs of a staged bundle through Core ML and ExecuTorch. See README.md.

import PackageDescription

let package = Package(
    name: "EdgeDistillHarness",
    // The ExecuTorch package needs at least these; Core ML's async compile needs iOS 16 / macOS 13.
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "EdgeDistillHarness", targets: ["EdgeDistillHarness"]),
    ],
    dependencies: [
        // Prebuilt ExecuTorch runtime of the same minor release as the exporter (pyproject: executorch>=1.5,<1.6).
        // Keep ExecuTorchRunner.version equal to this branch's version.
        .package(url: "https://github.com/pytorch/executorch.git", branch: "swiftpm-1.5.0"),
    ],
    targets: [
        .target(
            name: "EdgeDistillHarness",
            dependencies: [
                .product(name: "executorch", package: "executorch"),
                .product(name: "backend_xnnpack", package: "executorch"),
                .product(name: "kernels_optimized", package: "executorch"),
                // int8 programs can keep quantize/dequantize ops outside the XNNPACK delegate.
                .product(name: "kernels_quantized", package: "executorch"),
            ],
            linkerSettings: [
                // Backends and kernels register themselves from static initialisers, which the linker drops
                // unless every object of the static libraries is loaded ("Linkage" in ExecuTorch's iOS docs).
                .unsafeFlags(["-Xlinker", "-all_load"]),
                // Force-loaded, the runtime's image helpers need these, which the 1.5 package does not declare
                // (pytorch/executorch#22686); the link fails without them on macOS.
                .linkedFramework("Accelerate"),
                .linkedFramework("CoreGraphics"),
                .linkedFramework("CoreImage"),
                .linkedFramework("CoreVideo"),
            ]
        ),
        .testTarget(
            name: "HarnessTests",
            dependencies: ["EdgeDistillHarness"],
            // Copied as is, so the model files keep the bytes their sha256 was taken of.
            resources: [.copy("StagedBundle")]
        ),
    ]
)
