import EdgeDistillHarness
import XCTest

/// Runs every job of the bundle the driver staged into `StagedBundle/`, in name order, and prints for each
/// the lines devices/ios.py reads back:
///
///     EDGEDISTILL-RESULT-BEGIN <artifact>
///     <the result JSON, one line>
///     EDGEDISTILL-RESULT-END
///
/// or `EDGEDISTILL-RESULT-ERROR <artifact> <one-line reason>`, which also fails the test.
final class HarnessTests: XCTestCase {
    @MainActor
    func testStagedJobs() async throws {
        guard let staged = Bundle.module.url(forResource: "StagedBundle", withExtension: nil) else {
            return XCTFail("StagedBundle is missing from the test bundle's resources")
        }
        let jobFiles = try Harness.jobFiles(in: staged)
        try XCTSkipIf(jobFiles.isEmpty, "no jobs in StagedBundle/jobs: `edgedistill bench BUNDLE --device ios:UDID` stages them")
        for jobFile in jobFiles {
            let artifact = jobFile.deletingPathExtension().lastPathComponent  // jobs/<artifact>.properties
            do {
                let json = try await Harness.run(jobFile: jobFile, staged: staged)
                emit("EDGEDISTILL-RESULT-BEGIN \(artifact)\n\(json)\nEDGEDISTILL-RESULT-END")
            } catch {
                let reason = error.localizedDescription.components(separatedBy: .newlines).joined(separator: " ")
                emit("EDGEDISTILL-RESULT-ERROR \(artifact) \(reason)")
                XCTFail("\(artifact): \(reason)")  // and go on with the next job
            }
        }
    }

    /// One print, flushed at once, so the marker lines stay together and reach the driver even if a later job crashes.
    private func emit(_ text: String) {
        print(text)
        fflush(stdout)
    }
}
