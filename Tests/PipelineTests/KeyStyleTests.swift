import Foundation
import StageKit
import Testing
@testable import Pipeline

/// One key style (snake_case) in every JSON file ctr-pipeline writes, and the previous
/// release's camelCase files still read (docs/FORMATS.md, "Key style").
@Suite struct KeyStyleTests {
    func object(_ path: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    func cacheEntries(_ work: String) throws -> [String] {
        let cache = work + "/.ctr-pipeline/cache"
        return try FileManager.default.contentsOfDirectory(atPath: cache).filter { !$0.hasPrefix(".") }.sorted()
            .map { cache + "/" + $0 + "/entry.json" }
    }

    @Test func theManifestLockFileAndRunCacheUseSnakeCase() throws {
        let s = try Scratch()
        _ = try s.run(chainPipeline)
        let work = s.path("work")
        let manifest = try object(work + "/manifest.json")
        #expect(Set(manifest.keys) == Set(["manifest_version", "id", "pipeline", "file", "workdir", "tool_version", "git_revision", "started_at",
                                       "seconds", "status", "overrides", "options", "config", "stages", "metrics"])
                .subtracting(manifest["git_revision"] == nil ? ["git_revision"] : []))
        #expect(manifest["manifest_version"] as? Int == 2)
        let lock = try object(work + "/" + LockFile.fileName)
        #expect(lock["version"] as? Int == 2)
        let entry = try #require((lock["stages"] as? [String: Any])?["model"] as? [String: Any])
        #expect(Set(entry.keys) == ["fingerprint", "kind", "kind_version", "tool_version", "params", "inputs", "outputs", "completed_at",
                                    "seconds", "metrics"])
        let stamp = try #require(((lock["files"] as? [String: Any])?.values.first as? [String: Any])?["stamp"] as? [String: Any])
        #expect(Set(stamp.keys) == ["size", "mtime", "inode", "is_directory"])
        let cached = try object(try #require(cacheEntries(work).first))
        #expect(Set(cached.keys) == ["cache_version", "stage", "stored_at", "run", "files"])
        #expect(cached["cache_version"] as? Int == 2)
        // The run record is the manifest's bytes.
        let record = try #require(RunHistory.load(workdir: work).last)
        #expect(try Data(contentsOf: URL(fileURLWithPath: record.path)) == Data(contentsOf: URL(fileURLWithPath: work + "/manifest.json")))
    }

    /// Rewrites a file in the previous release's style: camelCase keys, format 1.
    func camelize(_ path: String) throws {
        var text = try String(contentsOfFile: path, encoding: .utf8)
        for (new, old) in [("\"manifest_version\": 2", "\"manifestVersion\": 1"), ("\"cache_version\": 2", "\"cacheVersion\": 1"),
                           ("\"tool_version\"", "\"toolVersion\""), ("\"git_revision\"", "\"gitRevision\""), ("\"started_at\"", "\"startedAt\""),
                           ("\"kind_version\"", "\"kindVersion\""), ("\"completed_at\"", "\"completedAt\""),
                           ("\"is_directory\"", "\"isDirectory\""), ("\"stored_at\"", "\"storedAt\"")] {
            text = text.replacingOccurrences(of: new, with: old)
        }
        if path.hasSuffix(LockFile.fileName) { text = text.replacingOccurrences(of: "\"version\": 2,", with: "\"version\": 1,") }
        #expect(!text.contains("_version\"") && !text.contains("_at\""))
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func thePreviousReleasesCamelCaseFilesStillRead() throws {
        let s = try Scratch()
        let first = try s.run(chainPipeline)
        _ = try s.run(chainPipeline, overrides: ["model.k=8"])
        let work = s.path("work")
        let before = RunHistory.load(workdir: work)
        #expect(before.count == 2)
        try camelize(work + "/" + LockFile.fileName)
        try camelize(work + "/manifest.json")
        for record in before { try camelize(record.path) }
        for entry in try cacheEntries(work) { try camelize(entry) }

        // Old run records: listed with the same figures.
        let after = RunHistory.load(workdir: work)
        #expect(after.map(\.id) == before.map(\.id))
        #expect(after.map(\.manifest.manifestVersion) == [1, 1])
        #expect(after.map(\.manifest.startedAt) == before.map(\.manifest.startedAt))
        #expect(after.map(\.manifest.toolVersion) == before.map(\.manifest.toolVersion))
        // The old lock file is trusted (join and other skipped) and the old cache entries
        // restore model and score at k=4.
        s.log.reset()
        let back = try s.run(chainPipeline)
        #expect(s.log.runs == [])
        #expect(Dictionary(uniqueKeysWithValues: back.stages.map { ($0.name, $0.status) })
                == ["join": .skipped, "model": .restored, "score": .restored, "other": .skipped])
        #expect(back.stage("score")!.metrics == first.stage("score")!.metrics)
        // ... and is rewritten in the current style.
        #expect(try object(work + "/" + LockFile.fileName)["version"] as? Int == 2)
    }
}
