import ExecuTorch
import Foundation

/// ExecuTorch: the .pte through the official Swift API of the prebuilt package, with the XNNPACK backend
/// and the CPU kernels linked in (Package.swift), as `executorch_runner` does through the Python runtime.
///
/// The thread count is recorded, not applied: the Swift API has no setting for it, and XNNPACK's
/// thread pool sizes itself to the device's cores.
@MainActor
final class ExecuTorchRunner: Runner {
    /// The runtime version recorded in results: the `swiftpm-` branch of Package.swift.
    static let version = "1.5.0"

    private let module: Module
    private let shape: [Int]

    init(model: URL, inputShape: [Int]) throws {
        let module = Module(filePath: model.path)
        try module.load("forward")  // the program and the delegate's setup now, not inside the first call
        self.module = module
        shape = inputShape
    }

    func run(_ input: UnsafeMutablePointer<Float>) throws -> [Float] {
        let tensor = Tensor<Float>(bytesNoCopy: input, shape: shape)
        // An array, as ExecuTorch's own ModuleTest passes it: a bare tensor also matches the variadic overloads.
        let outputs: [Value] = try module.forward([tensor])
        // tensor() gives nil for an output of another type, where the typed forward's conversion asserts.
        guard let logits: Tensor<Float> = outputs.first?.tensor() else {
            throw HarnessError("the ExecuTorch program's first output is not a float32 tensor")
        }
        return logits.scalars()
    }
}
