import Foundation

/// A job that cannot run or be checked, with the one-line reason the driver shows the user.
struct HarnessError: LocalizedError {
    let message: String

    init(_ message: String) {
        self.message = message
    }

    var errorDescription: String? { message }
}
