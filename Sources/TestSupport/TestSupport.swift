import Foundation

/// Helpers shared by the test targets: where the package and the real sample data are,
/// scratch folders, and running the built executables.
public enum TestSupport {
    /// The package root, found from this file's path (…/Sources/TestSupport/TestSupport.swift).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/data` beside the package (or `$SWIFTCTR_SHARED_DATA`), nil when absent:
    /// tests that need the real samples skip cleanly without it.
    public static var sharedData: URL? {
        let env = ProcessInfo.processInfo.environment["SWIFTCTR_SHARED_DATA"]
        let url = env.map { URL(fileURLWithPath: $0) }
            ?? packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data")
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue ? url : nil
    }

    /// Whether every named file exists under `sharedData`; used as
    /// `.enabled(if: TestSupport.hasSharedData(...), "...")` so that a test without its data
    /// is reported as skipped with the reason, not passed silently.
    public static func hasSharedData(_ relativePaths: String...) -> Bool {
        guard let data = sharedData else { return false }
        return relativePaths.allSatisfy { FileManager.default.fileExists(atPath: data.appendingPathComponent($0).path) }
    }

    /// A fresh empty folder in this test process's scratch folder under the system's
    /// temporary directory; the scratch folder is removed when the process exits normally, so
    /// test runs do not pile folders up in /tmp (a run killed or crashed leaves it to look at).
    public static func makeTemporaryDirectory(_ prefix: String = "swiftctr-test") throws -> URL {
        let url = scratchRoot.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// One folder a test process, `swiftctr-tests-<pid>-<uuid>`, removed at exit.
    static let scratchRoot: URL = {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("swiftctr-tests-\(getpid())-\(UUID().uuidString)")
        atexit { removeScratchRoot() }
        return url
    }()

    /// The folder holding the built executables (the one the test bundle was built into).
    public static var productsDirectory: URL {
        let bundle = Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") }
        if let bundle { return URL(fileURLWithPath: bundle.bundlePath).deletingLastPathComponent() }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }

    public struct Execution {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    /// Runs a built executable (e.g. "ctr-ingest") and collects its exit status and output.
    /// - Parameter directory: the working directory (default: the test's), for relative paths.
    public static func run(_ executable: String, _ arguments: [String], stdin: Data? = nil,
                           in directory: String? = nil) throws -> Execution {
        let process = Process()
        process.executableURL = productsDirectory.appendingPathComponent(executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        // Read both pipes before waiting, so a chatty child never blocks on a full pipe.
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let errData = errBox.data
        process.waitUntilExit()
        return Execution(status: process.terminationStatus,
                         stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
    }
}

extension TestSupport {
    /// The id of a process that has ended (a `true` run and waited for): what a run killed
    /// with SIGKILL leaves in the names of its temporary files.
    public static func deadProcessID() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exit 0"]
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    /// Starts a built executable with its output discarded, SIGINT and SIGTERM unblocked and
    /// at their default disposition (a test thread may block them, and a child inherits
    /// that); returns its process id. Wait for it with `waitForExit`.
    public static func start(_ executable: String, _ arguments: [String]) throws -> pid_t {
        let path = productsDirectory.appendingPathComponent(executable).path
        #if canImport(Glibc)
        var attributes = posix_spawnattr_t()
        var actions = posix_spawn_file_actions_t()
        #else
        var attributes: posix_spawnattr_t?
        var actions: posix_spawn_file_actions_t?
        #endif
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd in Int32(0)...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard code == 0 else { throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO) }
        return pid
    }

    /// Waits for a process started by `start`: its exit code, or the signal that ended it.
    public static func waitForExit(_ pid: pid_t) -> (exitCode: Int32?, signal: Int32?) {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if status & 0x7f == 0 { return ((status >> 8) & 0xff, nil) }
        return (nil, status & 0x7f)
    }
}

private func removeScratchRoot() {
    try? FileManager.default.removeItem(at: TestSupport.scratchRoot)
}
