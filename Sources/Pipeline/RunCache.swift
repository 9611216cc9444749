import Foundation
import StageKit
import LogIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where ctr-pipeline keeps what it remembers in a work directory: run records
/// (`runs/`) and the run cache (`cache/`). A dot folder, so that no stage name can
/// collide with it and no folder hash ever includes it.
enum HistoryFolder {
    static let name = ".ctr-pipeline"
    static func path(_ workdir: String) -> String { workdir + "/" + name }
}

/// The run cache: the outputs of every stage instance that ran, kept by fingerprint in
/// `workdir/.ctr-pipeline/cache/<fingerprint>/` as hard links to the files the stage
/// wrote (copies where a hard link is impossible). Stages write their outputs by rename,
/// never in place, so a link keeps the bytes of that run after the next run replaced them.
///
/// An entry is built under a dot name and renamed into place with its `entry.json`
/// already inside, so a visible entry is always complete; a killed store or gc leaves
/// only dot names, which the next run or gc removes. A restore checks every cached file
/// against its recorded content hash (by `stat` stamp, re-reading it when the stamp
/// changed), links the files into place under temporary names and renames them all
/// together (one `CommitGroup`); the runner writes the stage's lock entry only after
/// that, so a kill during a restore leaves a stage that is simply not up to date.
public struct RunCache: Sendable {
    /// 2: snake_case keys (1: camelCase, still read).
    public static let formatVersion = 2

    /// One cached file: an output (a file) or a file inside an output (a folder).
    public struct StoredFile: Codable, Equatable, Sendable {
        public var output: String
        /// Path inside the output folder; "" for a file output.
        public var relative: String
        public var hash: String
        /// `stat` of the cached file when stored: unchanged means unchanged bytes.
        public var stamp: FileStamp
    }

    /// `cache/<fingerprint>/entry.json`.
    public struct Entry: Codable, Equatable, Sendable {
        public var cacheVersion = RunCache.formatVersion
        /// The stage instance that made it (informative: restores go by fingerprint).
        public var stage: String
        public var storedAt: String
        /// The lock entry of the run that made the outputs (fingerprint, params, input
        /// and output hashes, metrics).
        public var run: LockEntry
        public var files: [StoredFile]

        enum CodingKeys: String, CodingKey {
            case cacheVersion = "cache_version", stage, storedAt = "stored_at", run, files
        }

        init(stage: String, storedAt: String, run: LockEntry, files: [StoredFile]) {
            self.stage = stage
            self.storedAt = storedAt
            self.run = run
            self.files = files
        }

        /// Reads snake_case keys, or the camelCase ones of cache entry format 1.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: JSONKey.self)
            cacheVersion = try c.value("cache_version", or: "cacheVersion")
            stage = try c.value("stage")
            storedAt = try c.value("stored_at", or: "storedAt")
            run = try c.value("run")
            files = try c.value("files")
        }
    }

    /// Size of the cache on disk.
    public struct Usage: Equatable, Sendable {
        public var entries = 0
        /// Distinct files (by inode) and their bytes.
        public var files = 0
        public var bytes: Int64 = 0
        /// Bytes of the files nothing outside the cache links to: what the cache costs.
        public var exclusiveBytes: Int64 = 0
    }

    public let root: String

    public init(workdir: String) {
        root = HistoryFolder.path(workdir) + "/cache"
    }

    func entryFolder(_ fingerprint: String) -> String { root + "/" + fingerprint }

    /// The entry stored for `fingerprint`, nil when none (or an unreadable one).
    public func entry(_ fingerprint: String) -> Entry? {
        guard let data = FileManager.default.contents(atPath: entryFolder(fingerprint) + "/entry.json"),
              let entry = try? JSONDecoder().decode(Entry.self, from: data),
              entry.cacheVersion == RunCache.formatVersion || entry.cacheVersion == 1, entry.run.fingerprint == fingerprint else { return nil }
        return entry
    }

    /// Fingerprints of the complete entries.
    public func fingerprints() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }

    /// Removes what killed stores and collections left (dot names). Call only while
    /// holding the work directory's run lock.
    func removeUnfinished() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for name in names where name.hasPrefix(".") { try? FileManager.default.removeItem(atPath: root + "/" + name) }
    }

    // MARK: Store

    /// Keeps the outputs of a stage that just ran under its fingerprint.
    func store(stage: ResolvedStage, run: LockEntry, hasher: ContentHasher) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        let building = root + "/.\(run.fingerprint).partial-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { try? fm.removeItem(atPath: building) }
        try fm.createDirectory(atPath: building + "/outputs", withIntermediateDirectories: true)
        var files: [StoredFile] = []
        for output in stage.outputs {
            let target = building + "/outputs/" + output.name
            var relatives = [""]
            if output.isDirectory {
                var listed: [String] = []
                ContentHasher.listFiles(output.path, relative: "", into: &listed)
                relatives = listed.sorted()
                try fm.createDirectory(atPath: target, withIntermediateDirectories: true)
            }
            for relative in relatives {
                let source = relative.isEmpty ? output.path : output.path + "/" + relative
                let destination = relative.isEmpty ? target : target + "/" + relative
                guard let hash = try hasher.hash(source) else {
                    throw PipelineError.io(path: source, message: "output vanished while it was being cached")
                }
                try linkOrCopy(source, destination)
                guard let stamp = FileStamp.of(destination) else {
                    throw PipelineError.io(path: destination, message: "cached file vanished")
                }
                files.append(StoredFile(output: output.name, relative: relative, hash: hash, stamp: stamp))
            }
        }
        let entry = Entry(stage: stage.name, storedAt: ISO8601DateFormatter().string(from: Date()), run: run, files: files)
        try writeJSON(entry, to: building + "/entry.json")
        let final = entryFolder(run.fingerprint)
        if FileStamp.of(final) != nil {
            // A forced re-run of the same fingerprint: the newer outputs win.
            let trash = root + "/.\(run.fingerprint).trash-\(getpid())-\(UUID().uuidString.prefix(8))"
            if rename(final, trash) == 0 { try? fm.removeItem(atPath: trash) }
        }
        guard rename(building, final) == 0 else {
            // Another job stored the same fingerprint meanwhile: its entry is as good.
            if errno == ENOTEMPTY || errno == EEXIST { return }
            throw PipelineError.io(path: final, message: "cannot publish the cache entry: \(String(cString: strerror(errno)))")
        }
    }

    // MARK: Restore

    /// Why a cached entry could not be restored (the stage then runs).
    enum RestoreFailure: Error, CustomStringConvertible {
        case incomplete(String)
        case corrupt(String)

        var description: String {
            switch self {
            case let .incomplete(why), let .corrupt(why): return why
            }
        }
    }

    /// Puts the cached outputs of `entry` in place of `stage`'s outputs, verified, all
    /// together; returns their hashes. Files inside a folder output that the cached run
    /// did not have are removed (dot names stay), so the folder's hash is the recorded one.
    func restore(_ entry: Entry, to stage: ResolvedStage, hasher: ContentHasher) throws -> [OutputHash] {
        let folder = entryFolder(entry.run.fingerprint)
        // 1. The entry covers exactly this stage's outputs, and every file is intact.
        let names = Set(entry.files.map(\.output))
        for output in stage.outputs where !names.contains(output.name) {
            throw RestoreFailure.incomplete("the cached run has no output \(output.name)")
        }
        for file in entry.files {
            // Only paths inside the output: an entry.json edited by hand must not write elsewhere.
            let parts = file.relative.split(separator: "/", omittingEmptySubsequences: false)
            guard !file.relative.hasPrefix("/"), !parts.contains(".."), !file.output.contains("/"), file.output != ".." else {
                throw RestoreFailure.corrupt("cached file outside its output: \(file.output)/\(file.relative)")
            }
            let path = cachedPath(folder, file)
            guard let stamp = FileStamp.of(path) else {
                throw RestoreFailure.corrupt("cached file missing: \(display(path))")
            }
            if stamp != file.stamp, try ContentHasher.hashFile(path) != file.hash {
                throw RestoreFailure.corrupt("cached file changed since it was stored: \(display(path))")
            }
        }
        // 2. Link everything under temporary names beside its destination, then rename all.
        var destinations: [String: (source: String, hash: String)] = [:]
        var order: [String] = []
        var keep: [String: Set<String>] = [:]
        for output in stage.outputs {
            for file in entry.files where file.output == output.name {
                let destination = file.relative.isEmpty ? output.path : output.path + "/" + file.relative
                if destinations[destination] == nil { order.append(destination) }
                destinations[destination] = (cachedPath(folder, file), file.hash)
                if output.isDirectory { keep[output.path, default: []].insert(file.relative) }
            }
        }
        let fm = FileManager.default
        let group = CommitGroup()
        var temporaries: [String] = []
        for destination in order {
            let parent = Durability.directory(of: destination)
            try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
            let base = URL(fileURLWithPath: destination).lastPathComponent
            TemporaryFiles.removeStalePartials(of: destination)
            // Already the cached file (a restore killed after this rename): rename() of
            // two links to one file does nothing, so there is nothing to do either.
            let source = destinations[destination]!.source
            if let a = FileStamp.of(source), let b = FileStamp.of(destination), a.inode == b.inode, a == b { continue }
            let temporary = parent + "/." + base + ".partial-\(getpid())"
            unlink(temporary)
            let linked = try linkOrCopy(source, temporary)
            try group.add(temporary: temporary, as: destination, synced: linked)
            temporaries.append(temporary)
        }
        try group.commit()
        for temporary in temporaries { unlink(temporary) }
        // 3. Folder outputs hold exactly the cached files.
        for (directory, kept) in keep {
            var present: [String] = []
            ContentHasher.listFiles(directory, relative: "", into: &present)
            for relative in present where !kept.contains(relative) { unlink(directory + "/" + relative) }
        }
        // 4. The hashes are known: remember them instead of reading the files again.
        for destination in order { hasher.remember(destination, hash: destinations[destination]!.hash) }
        var outputs: [OutputHash] = []
        for output in stage.outputs {
            guard let hash = try hasher.hash(output.path) else {
                throw RestoreFailure.corrupt("restored output missing: \(display(output.path))")
            }
            guard let recorded = entry.run.outputs.first(where: { $0.name == output.name }), recorded.hash == hash else {
                throw RestoreFailure.corrupt("restored output \(output.name) does not have the recorded content hash")
            }
            outputs.append(OutputHash(name: output.name, path: output.path, hash: hash))
        }
        return outputs
    }

    func cachedPath(_ folder: String, _ file: StoredFile) -> String {
        folder + "/outputs/" + file.output + (file.relative.isEmpty ? "" : "/" + file.relative)
    }

    /// The cached copy of a file with this content hash, if any entry holds one.
    public func file(withHash hash: String) -> String? {
        for fingerprint in fingerprints() {
            guard let entry = entry(fingerprint) else { continue }
            for file in entry.files where file.hash == hash {
                let path = cachedPath(entryFolder(fingerprint), file)
                if let stamp = FileStamp.of(path), stamp == file.stamp { return path }
            }
        }
        return nil
    }

    /// Hard-links `source` to `destination`, or copies it when the file system refuses a
    /// link (another device, no hard links). Returns whether it linked.
    @discardableResult
    func linkOrCopy(_ source: String, _ destination: String) throws -> Bool {
        if link(source, destination) == 0 { return true }
        let why = errno
        guard why == EXDEV || why == EPERM || why == EMLINK || why == ENOTSUP else {
            throw PipelineError.io(path: destination, message: "cannot link \(source) here: \(String(cString: strerror(why)))")
        }
        try FileManager.default.copyItem(atPath: source, toPath: destination)
        return false
    }

    // MARK: Size and collection

    /// Entries, distinct files and bytes of the cache, and the bytes only it holds.
    public func usage() -> Usage {
        var usage = Usage()
        struct Seen { var size: Int64; var links: Int; var found: Int }
        var inodes: [UInt64: Seen] = [:]
        let fingerprints = fingerprints()
        usage.entries = fingerprints.count
        for fingerprint in fingerprints {
            var files: [String] = []
            ContentHasher.listFiles(entryFolder(fingerprint) + "/outputs", relative: "", into: &files)
            for file in files {
                var st = stat()
                guard stat(entryFolder(fingerprint) + "/outputs/" + file, &st) == 0 else { continue }
                let key = UInt64(st.st_ino)
                if var seen = inodes[key] {
                    seen.found += 1
                    inodes[key] = seen
                } else {
                    inodes[key] = Seen(size: Int64(st.st_size), links: Int(st.st_nlink), found: 1)
                }
            }
        }
        usage.files = inodes.count
        for seen in inodes.values {
            usage.bytes += seen.size
            if seen.found >= seen.links { usage.exclusiveBytes += seen.size }
        }
        return usage
    }

    /// What `collect` did.
    public struct Collection: Equatable, Sendable {
        public var removed: [String] = []
        public var before = Usage()
        public var after = Usage()
    }

    /// Removes every entry whose fingerprint is not in `keep`. Each entry is renamed to a
    /// dot name first (atomic), then deleted: a killed collection leaves whole entries
    /// or dot names, never a visible half entry.
    func collect(keeping keep: Set<String>, dryRun: Bool) -> Collection {
        var result = Collection()
        result.before = usage()
        if !dryRun { removeUnfinished() }
        for fingerprint in fingerprints() where !keep.contains(fingerprint) {
            result.removed.append(fingerprint)
            guard !dryRun else { continue }
            let trash = root + "/.\(fingerprint).trash-\(getpid())"
            if rename(entryFolder(fingerprint), trash) == 0 { try? FileManager.default.removeItem(atPath: trash) }
        }
        result.after = dryRun ? result.before : usage()
        return result
    }
}

extension ContentHasher {
    /// Records that `path`, as it is now, has content `hash` (a file just restored from
    /// the run cache, whose bytes were verified there).
    func remember(_ path: String, hash: String) {
        guard let stamp = FileStamp.of(path), !stamp.isDirectory else { return }
        record(path, CachedHash(stamp: stamp, hash: hash))
    }
}
