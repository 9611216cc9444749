import Foundation

extension FileIO {
    /// Creates the folder `path` and any missing parents. Returns nil on success (also when
    /// the folder exists), else why not, in words for a message after the path: "the path
    /// is empty", "/a/b is a file, not a folder", or the system's reason.
    /// The folder part of a path: "a/b/" and "a/b" give "a", "b" gives "" (the current
    /// folder), "/b" and "/" give "/". (Foundation's `deletingLastPathComponent` traps on
    /// some relative names on Linux.)
    public static func parentFolder(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        if slash == trimmed.startIndex { return "/" }
        var parent = trimmed[..<slash]
        while parent.count > 1 && parent.hasSuffix("/") { parent = parent.dropLast() }
        return String(parent)
    }

    public static func createFolder(_ path: String) -> String? {
        guard !path.isEmpty else { return "the path is empty; expected the name of a folder" }
        // The deepest part of the path that exists must be a folder.
        var existing = path
        while !existing.isEmpty {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: existing, isDirectory: &isDirectory) {
                if isDirectory.boolValue { break }
                return existing == path ? "it is a file, not a folder" : "\(existing) is a file, not a folder"
            }
            let parent = parentFolder(existing)
            if parent == existing { break }
            existing = parent
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return nil
        } catch {
            let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
            if let underlying, underlying.domain == NSPOSIXErrorDomain {
                return "\(String(cString: strerror(Int32(underlying.code)))) (errno \(underlying.code))"
            }
            return (error as NSError).localizedDescription
        }
    }
}
