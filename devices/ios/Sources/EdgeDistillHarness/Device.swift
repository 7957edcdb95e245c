import Foundation
#if os(iOS)
import UIKit
#endif

/// The `device` of a result. On the main actor because UIDevice is.
@MainActor
enum Device {
    static func describe(threads: Int) -> [String: Any] {
        ["name": name, "os": system, "cpu": cpu, "cores": ProcessInfo.processInfo.activeProcessorCount, "threads": threads]
    }

    #if os(iOS)
    /// "iPhone" unless the app has the entitlement to read the name its owner gave it.
    static var name: String { UIDevice.current.name }
    /// "iOS 18.1": the Core ML version too, which ships with the system.
    static var system: String { "\(UIDevice.current.systemName) \(UIDevice.current.systemVersion)" }
    /// The model identifier ("iPhone16,1"), which names the chip; iOS does not report the chip itself.
    static var cpu: String { sysctl("hw.machine") ?? "unknown" }
    #else
    static var name: String { sysctl("kern.hostname") ?? "unknown" }  // ProcessInfo.hostName can wait on DNS
    static var system: String { "macOS \(ProcessInfo.processInfo.operatingSystemVersionString)" }
    /// "Apple M2 Pro, Mac14,12": the chip and the model identifier.
    static var cpu: String {
        [sysctl("machdep.cpu.brand_string"), sysctl("hw.model")].compactMap { $0 }.joined(separator: ", ")
    }
    #endif

    private static func sysctl(_ name: String) -> String? {
        var size = 0
        guard sysctlbyname(name, nil, &size, nil, 0) == 0, size > 0 else {
            return nil
        }
        var bytes = [CChar](repeating: 0, count: size)
        guard sysctlbyname(name, &bytes, &size, nil, 0) == 0 else {
            return nil
        }
        return bytes.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
