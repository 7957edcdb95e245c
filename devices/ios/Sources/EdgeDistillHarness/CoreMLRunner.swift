import CoreML

/// Core ML: the .mlpackage compiled on the device and run on all compute units (CPU, GPU and Neural
/// Engine, the export's "all compute units" delegate), as `coreml_runner` does through coremltools.
@MainActor
final class CoreMLRunner: Runner {
    private let model: MLModel
    private let inputName: String
    private let outputName: String
    private let shape: [NSNumber]
    private let strides: [NSNumber]  // C order

    /// Compiles and loads the model. Compiling is part of loading here as in coremltools, which also
    /// compiles an .mlpackage when it opens one; an app would compile it once at build time.
    static func load(_ package: URL, inputShape: [Int]) async throws -> CoreMLRunner {
        let compiled = try await MLModel.compileModel(at: package)
        let configuration = MLModelConfiguration()
        configuration.computeUnits = .all
        return try CoreMLRunner(model: MLModel(contentsOf: compiled, configuration: configuration), inputShape: inputShape)
    }

    private init(model: MLModel, inputShape: [Int]) throws {
        let inputs = model.modelDescription.inputDescriptionsByName
        let outputs = model.modelDescription.outputDescriptionsByName
        guard inputs.count == 1, outputs.count == 1, let input = inputs.keys.first, let output = outputs.keys.first else {
            throw HarnessError("the Core ML model has \(inputs.count) inputs and \(outputs.count) outputs, not one of each")
        }
        self.model = model
        inputName = input
        outputName = output
        shape = inputShape.map { NSNumber(value: $0) }
        strides = inputShape.indices.map { axis in NSNumber(value: inputShape[(axis + 1)...].reduce(1, *)) }
    }

    func run(_ input: UnsafeMutablePointer<Float>) throws -> [Float] {
        let array = try MLMultiArray(dataPointer: input, shape: shape, dataType: .float32, strides: strides)
        let features = try MLDictionaryFeatureProvider(dictionary: [inputName: MLFeatureValue(multiArray: array)])
        guard let logits = try model.prediction(from: features).featureValue(for: outputName)?.multiArrayValue else {
            throw HarnessError("the Core ML model's output \(outputName) is not a multi-array")
        }
        // Converts float16 outputs and follows the array's strides, which Core ML may pad.
        return MLShapedArray<Float>(converting: logits).scalars
    }
}
