import CTemporaryFiles
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one commit point of a stage: finished temporary files wait here and are renamed
/// into place together by `commit()`; a group dropped without `commit()` (the stage threw)
/// removes every one of them, so a failed stage publishes nothing.
///
/// ```swift
/// let outputs = CommitGroup()
/// let report = try AtomicFileWriter(path: "report.html", group: outputs)
/// let metrics = try AtomicFileWriter(path: "metrics.json", group: outputs)
/// …
/// try report.commit()     // written out and fsynced, not yet renamed
/// try metrics.commit()    // added last: the completeness marker
/// try outputs.commit()    // both appear
/// ```
///
/// **Order and what a reader sees.** The file added last is the stage's completeness
/// marker. `commit()` first removes the marker's old version (if there are other files),
/// then renames the others in the order they were added, fsyncs their folders, renames
/// the marker last and fsyncs its folder. A crash or power loss in the middle can leave a
/// mix of new and old files other than the marker, but never a marker beside them: a
/// reader that finds the marker finds the complete set it describes, and a folder without
/// its marker is an unfinished run to redo.
///
/// Every file is fsynced before its rename and every folder after it (as SQLite and
/// LevelDB do), so a power loss cannot publish an empty or partial file under its final
/// name. Not thread-safe: add and commit from one thread.
public final class CommitGroup {
    private struct Entry {
        let temporary: String
        let path: String
        let registration: TemporaryFiles.Registration
    }
    private var entries: [Entry] = []
    /// Entries before this index are renamed into place (they are no longer ours to remove).
    private var published = 0
    private var committed = false

    public init() {}

    /// Final paths of the files held, in commit order.
    public var paths: [String] { entries.map(\.path) }

    /// Takes over a finished temporary file (not an `AtomicFileWriter`'s: give the writer
    /// the group instead): `commit()` renames it to `path`; dropping the group removes it.
    /// - Parameter synced: the file is already fsynced (otherwise it is now).
    public func add(temporary: String, as path: String, synced: Bool = false) throws {
        precondition(!committed, "CommitGroup.add after commit (\(path))")
        if !synced { try Durability.syncFile(temporary) }
        entries.append(Entry(temporary: temporary, path: path, registration: TemporaryFiles.register(temporary)))
    }

    /// An AtomicFileWriter's finished (fsynced, closed) temporary file.
    func adopt(temporary: String, as path: String, registration: TemporaryFiles.Registration) {
        precondition(!committed, "CommitGroup: a writer committed after the group (\(path))")
        entries.append(Entry(temporary: temporary, path: path, registration: registration))
    }

    /// Renames every file into place, the completeness marker (the last added) last.
    /// On failure the files not yet renamed are removed.
    public func commit() throws {
        precondition(!committed, "CommitGroup.commit() called twice")
        committed = true
        guard let marker = entries.last else { return }
        do {
            if entries.count > 1 {
                // No old marker beside a half-renamed set of new files.
                if unlink(marker.path) == 0 { try Durability.syncDirectory(containing: marker.path) }
                var folders: [String] = []
                while published < entries.count - 1 {
                    let entry = entries[published]
                    try rename(entry)
                    let folder = Durability.directory(of: entry.path)
                    if !folders.contains(folder) { folders.append(folder) }
                }
                for folder in folders { try Durability.syncDirectory(folder) }
            }
            try rename(marker)
            try Durability.syncDirectory(containing: marker.path)
        } catch {
            discardUnpublished()
            throw error
        }
    }

    private func rename(_ entry: Entry) throws {
        #if canImport(Glibc)
        let status = Glibc.rename(entry.temporary, entry.path)
        #else
        let status = Darwin.rename(entry.temporary, entry.path)
        #endif
        guard status == 0 else { throw LogIOError.renameFailed(from: entry.temporary, to: entry.path, errno: errno) }
        entry.registration.release()
        published += 1
    }

    private func discardUnpublished() {
        while published < entries.count {
            unlink(entries[published].temporary)
            entries[published].registration.release()
            published += 1
        }
    }

    deinit { discardUnpublished() }
}

/// fsync of files and folders.
public enum Durability {
    /// Flushes a file's data to the device; EIO, ENOSPC and the like are errors, a file
    /// system that cannot sync (EINVAL, ENOTSUP) is not.
    static func sync(_ fd: Int32, path: String) throws {
        while fsync(fd) != 0 {
            if errno == EINTR { continue }
            if errno == EINVAL || errno == ENOTSUP || errno == EROFS { return }
            throw LogIOError.writeFailed(path: path, errno: errno)
        }
    }

    /// fsync of a file by path.
    public static func syncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw LogIOError.cannotOpen(path: path, errno: errno) }
        defer { close(fd) }
        try sync(fd, path: path)
    }

    /// fsync of a folder, so that the names renamed or removed in it survive a power loss.
    public static func syncDirectory(_ directory: String) throws {
        let fd = open(directory, O_RDONLY)
        // A folder that cannot be opened for reading (mode -r) still took the rename.
        guard fd >= 0 else { return }
        defer { close(fd) }
        try sync(fd, path: directory)
    }

    public static func syncDirectory(containing path: String) throws {
        try syncDirectory(directory(of: path))
    }

    /// The folder part of a path: "." for a bare name, "/" for a file at the root.
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// Temporary files of this process: removed when SIGINT, SIGTERM or SIGHUP ends it, and
/// the ones a killed process left behind removed by the next run.
public enum TemporaryFiles {
    /// A registered temporary file: while registered, a signal that ends the process
    /// unlinks it. Released by `release()` (after a rename or unlink) or on deinit.
    public final class Registration {
        private var slot: Int32
        private var token: UnsafeMutablePointer<CChar>?

        init(path: String) {
            ctr_temporary_files_install()
            var token: UnsafeMutablePointer<CChar>?
            slot = ctr_temporary_files_register(path, &token)
            self.token = token
        }

        public func release() {
            ctr_temporary_files_unregister(slot, token)
            slot = -1
            token = nil
        }

        deinit { release() }
    }

    /// Registers `path` for removal if a signal ends the process; keep the registration
    /// as long as the file is temporary.
    public static func register(_ path: String) -> Registration { Registration(path: path) }

    /// Removes the `.NAME.partial-PID` files (AtomicFileWriter's temporary names) of `path`
    /// whose process is gone. A writer does this when it opens; a stage whose outputs are
    /// not all opened as writers (ctr-ingest's train.tsv may be its scratch file renamed)
    /// calls it for each output at its start.
    @discardableResult
    public static func removeStalePartials(of path: String) -> [String] {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        return removeStale(in: directory, prefix: ".\(name).partial-")
    }

    /// Removes files in `directory` named `prefix` + a process id + `suffix` (or that name's
    /// own `.partial-PID`, `.` + name + `.partial-` + digits) whose process is gone
    /// (`kill(pid, 0)` fails with ESRCH): what a killed run left. Files of live processes,
    /// and of this one, stay. Returns the names removed.
    ///
    /// Process ids are those of this machine and PID namespace: a folder shared with
    /// another machine or container may hold a live writer's file that looks stale here.
    @discardableResult
    public static func removeStale(in directory: String, prefix: String, suffix: String = "") -> [String] {
        guard let dir = opendir(directory.isEmpty ? "." : directory) else { return [] }
        defer { closedir(dir) }
        let me = getpid()
        var removed: [String] = []
        while let entry = readdir(dir) {
            // The name in place, up to its NUL: readdir's entry may be shorter than
            // `dirent` (d_reclen), so the whole d_name array must not be copied.
            let name = String(cString: (UnsafeRawPointer(entry) + MemoryLayout<dirent>.offset(of: \dirent.d_name)!)
                .assumingMemoryBound(to: CChar.self))
            var rest = Substring(name)
            if name.hasPrefix("." + prefix) {
                // A killed writer's partial of the file itself: ".PREFIX<pid>SUFFIX.partial-<digits>".
                guard let mark = name.range(of: ".partial-", options: .backwards),
                      !name[mark.upperBound...].isEmpty, name[mark.upperBound...].allSatisfy({ $0.isASCII && $0.isNumber })
                else { continue }
                rest = name[name.index(after: name.startIndex)..<mark.lowerBound]
            }
            guard rest.count > prefix.count + suffix.count, rest.hasPrefix(prefix), rest.hasSuffix(suffix) else { continue }
            let digits = rest.dropFirst(prefix.count).dropLast(suffix.count)
            guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), let pid = Int32(digits), pid > 0, pid != me else { continue }
            guard kill(pid, 0) != 0 && errno == ESRCH else { continue }
            let path = directory.isEmpty ? name : (directory.hasSuffix("/") ? directory + name : directory + "/" + name)
            if unlink(path) == 0 { removed.append(name) }
        }
        return removed
    }
}
