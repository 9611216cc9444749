import Foundation
import StageKit
import LogIO

/// The SwiftCTR release the fingerprints record: a new version re-runs every stage.
public enum SwiftCTRVersion {
    public static let current = SwiftCTRRelease.version
}

public struct InputHash: Codable, Equatable, Sendable {
    public var slot: String
    public var path: String
    public var hash: String
}

public struct OutputHash: Codable, Equatable, Sendable {
    public var name: String
    public var path: String
    public var hash: String
}

/// What the lock file remembers of a stage's last successful run.
public struct LockEntry: Codable, Equatable, Sendable {
    public var fingerprint: String
    public var kind: String
    public var kindVersion: Int
    public var toolVersion: String
    /// Every parameter as canonical JSON, to say which one changed.
    public var params: JSONValue
    public var inputs: [InputHash]
    public var outputs: [OutputHash]
    public var completedAt: String
    public var seconds: Double
    public var metrics: [ModelMetrics]
    /// The stage's `execution` (command, MPI ranks) when it has one.
    public var execution: JSONValue?

    enum CodingKeys: String, CodingKey {
        case fingerprint, kind, kindVersion = "kind_version", toolVersion = "tool_version", params, inputs, outputs
        case completedAt = "completed_at", seconds, metrics, execution
    }

    init(fingerprint: String, kind: String, kindVersion: Int, toolVersion: String, params: JSONValue, inputs: [InputHash],
         outputs: [OutputHash], completedAt: String, seconds: Double, metrics: [ModelMetrics], execution: JSONValue?) {
        self.fingerprint = fingerprint
        self.kind = kind
        self.kindVersion = kindVersion
        self.toolVersion = toolVersion
        self.params = params
        self.inputs = inputs
        self.outputs = outputs
        self.completedAt = completedAt
        self.seconds = seconds
        self.metrics = metrics
        self.execution = execution
    }

    /// Reads snake_case keys, or the camelCase ones of lock file format 1.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: JSONKey.self)
        fingerprint = try c.value("fingerprint")
        kind = try c.value("kind")
        kindVersion = try c.value("kind_version", or: "kindVersion")
        toolVersion = try c.value("tool_version", or: "toolVersion")
        params = try c.value("params")
        inputs = try c.value("inputs")
        outputs = try c.value("outputs")
        completedAt = try c.value("completed_at", or: "completedAt")
        seconds = try c.value("seconds")
        metrics = try c.value("metrics")
        execution = try c.optionalValue("execution")
    }
}

/// `workdir/ctr-pipeline.lock.json`: per stage instance, the fingerprint and output
/// hashes of its last successful run, plus the content-hash cache (path -> size,
/// mtime, inode, hash). A stage's entry is removed before it runs and written only
/// after all its outputs are in place, so a killed run never leaves an entry that
/// vouches for partial outputs.
public struct LockFile: Codable, Equatable, Sendable {
    public static let fileName = "ctr-pipeline.lock.json"
    /// 2: snake_case keys (1: camelCase, still read).
    public static let formatVersion = 2

    public var version = LockFile.formatVersion
    public var pipeline: String
    public var stages: [String: LockEntry] = [:]
    public var files: [String: CachedHash] = [:]

    public init(pipeline: String) {
        self.pipeline = pipeline
    }

    /// Reads the lock file; a missing one is empty. An unreadable or foreign one is
    /// reported through `warn` and treated as empty (every stage re-runs), never trusted.
    public static func load(workdir: String, pipeline: String, warn: (String) -> Void) -> LockFile {
        let path = workdir + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else { return LockFile(pipeline: pipeline) }
        do {
            let lock = try JSONDecoder().decode(LockFile.self, from: data)
            guard lock.version == formatVersion || lock.version == 1 else {
                warn("\(path): lock file format \(lock.version) is not \(formatVersion); ignoring it, every stage will run")
                return LockFile(pipeline: pipeline)
            }
            if lock.pipeline != pipeline {
                warn("\(path): this work directory was last used by pipeline \"\(lock.pipeline)\", not \"\(pipeline)\"; ignoring its lock file")
                return LockFile(pipeline: pipeline)
            }
            var current = lock
            current.version = formatVersion
            return current
        } catch {
            warn("\(path): unreadable lock file (\(error)); ignoring it, every stage will run")
            return LockFile(pipeline: pipeline)
        }
    }

    /// Writes the lock file atomically (temporary name, then rename).
    public func save(workdir: String) throws {
        try writeJSON(self, to: workdir + "/" + LockFile.fileName)
    }
}

/// Encodes `value` as pretty JSON with sorted keys and writes it atomically.
func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // Re-indented by JSONValue: two spaces, short arrays on one line.
    var parser = JSONParser(bytes: Array(try encoder.encode(value)))
    let writer = try AtomicFileWriter(path: path)
    try writer.write(try parser.parse().text(pretty: true) + "\n")
    try writer.commit()
}

/// A stage's fingerprint: XXH64 over its kind, kind version, tool version, canonical
/// parameters and the content hashes of its inputs slot by slot (paths are left out:
/// moving an unchanged input does not re-run anything).
/// A command stage's command and an MPI stage's ranks (`execution`) are hashed too.
func fingerprint(kind: StageKind, toolVersion: String, params: JSONValue, inputs: [InputHash], execution: JSONValue? = nil) -> String {
    var h = XXHash64()
    h.update("ctr-pipeline fingerprint 1\nkind=\(kind.name)\nkindVersion=\(kind.version)\ntool=\(toolVersion)\n")
    h.update("params=" + params.text(sortedKeys: true) + "\n")
    if let execution { h.update("execution=" + execution.text(sortedKeys: true) + "\n") }
    for input in inputs { h.update("input \(input.slot)=\(input.hash)\n") }
    return XXHash64.hex(h.digest())
}
