import CryptoKit
import Foundation

/// The sha256 the export wrote into manifest.json, computed as `sha256_of` in devices/harness.py does.
enum Sha256 {
    /// Hex digest of a file; of a directory (an .mlpackage), of each file's relative POSIX path (UTF-8),
    /// one 0 byte and the file's bytes, the files in Python's `sorted(path.rglob("*"))` order.
    static func of(_ url: URL) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw HarnessError("\(url.lastPathComponent) is missing from the staged bundle")
        }
        var hasher = SHA256()
        if isDirectory.boolValue {
            for path in try files(under: url) {
                hasher.update(data: Data(path.utf8))
                hasher.update(data: Data([0]))
                try feed(url.appendingPathComponent(path), into: &hasher)
            }
        } else {
            try feed(url, into: &hasher)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Hex digest of bytes already read whole (a golden array), so the bytes checked are the bytes used.
    static func of(data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// Relative paths of the regular files under `root`. Python sorts paths component by component
    /// ("a/b" before "a.txt"), each by code points, which is the order of their UTF-8 bytes.
    static func files(under root: URL) throws -> [String] {
        let manager = FileManager.default
        let files = try manager.subpathsOfDirectory(atPath: root.path).filter { path in
            var isDirectory: ObjCBool = false
            return manager.fileExists(atPath: root.appendingPathComponent(path).path, isDirectory: &isDirectory)
                && !isDirectory.boolValue
        }
        func components(_ path: String) -> [[UInt8]] {
            path.split(separator: "/").map { Array($0.utf8) }
        }
        return files.sorted { a, b in
            components(a).lexicographicallyPrecedes(components(b)) { x, y in x.lexicographicallyPrecedes(y) }
        }
    }

    /// Hashes a file in 1 MiB pieces, so a large model is never in memory whole.
    private static func feed(_ url: URL, into hasher: inout SHA256) throws {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
    }
}
