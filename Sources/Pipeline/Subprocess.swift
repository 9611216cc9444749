import CSubprocess
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one launcher of child processes, shared by command stages and MPI stages: an
/// argument vector, never a shell (a command stage asks for `/bin/sh -c` itself), stdout
/// and stderr into files, and the child stopped (SIGTERM) if ctr-pipeline dies first.
enum Subprocess {
    struct Failure: Error, CustomStringConvertible {
        var executable: String
        var message: String
        var description: String { "cannot start \(executable): \(message)" }
    }

    /// The folder of this process's executable (where the other ctr-* tools are built).
    static let ownDirectory: String = {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: path).deletingLastPathComponent().path
        }
        #endif
        let path = Bundle.main.executablePath ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: path).standardizedFileURL.deletingLastPathComponent().path
    }()

    /// The file `name` names: with a slash, relative to `base`; otherwise the first
    /// executable of that name in `$PATH`. nil when there is none (or it is not executable).
    static func resolve(_ name: String, base: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard !name.isEmpty else { return nil }
        if name.contains("/") {
            let path = absolutePath(name, base: base)
            return isExecutableFile(path) ? path : nil
        }
        let searchPath = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in searchPath.split(separator: ":", omittingEmptySubsequences: true) {
            let path = String(dir) + "/" + name
            if isExecutableFile(path) { return path }
        }
        return nil
    }

    static func isExecutableFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
            && access(path, X_OK) == 0
    }

    /// Runs `executable` (a path) with `arguments` in `directory`, stdout and stderr
    /// appended to the given files (created if needed); waits and returns the exit status
    /// (128 + N when signal N ended it).
    static func run(_ executable: String, _ arguments: [String], directory: String?, stdout: String, stderr: String) throws -> Int32 {
        let out = open(stdout, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard out >= 0 else { throw Failure(executable: executable, message: "cannot create \(stdout): \(String(cString: strerror(errno)))") }
        defer { close(out) }
        var err = out
        if stderr != stdout {
            err = open(stderr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard err >= 0 else { throw Failure(executable: executable, message: "cannot create \(stderr): \(String(cString: strerror(errno)))") }
        }
        defer { if err != out { close(err) } }
        let pid = try spawn(executable, arguments, directory: directory, out: out, err: err)
        return try wait(pid, executable)
    }

    /// Runs `executable` and returns its exit status and what it printed (stdout and stderr).
    static func capture(_ executable: String, _ arguments: [String], directory: String? = nil) throws -> (status: Int32, output: String) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw Failure(executable: executable, message: "pipe: \(String(cString: strerror(errno)))") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        let pid: pid_t
        do {
            pid = try spawn(executable, arguments, directory: directory, out: fds[1], err: fds[1])
        } catch {
            close(fds[0]); close(fds[1])
            throw error
        }
        close(fds[1])
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, 4096) }
            if n > 0 { bytes += buffer[0..<n] } else if n < 0 && errno == EINTR { continue } else { break }
        }
        close(fds[0])
        let status = try wait(pid, executable)
        return (status, String(decoding: bytes, as: UTF8.self))
    }

    static func spawn(_ executable: String, _ arguments: [String], directory: String?, out: Int32, err: Int32) throws -> pid_t {
        let argv = ([executable] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var pointers: [UnsafeMutablePointer<CChar>?] = argv + [nil]
        var pid: pid_t = 0
        let code = pointers.withUnsafeMutableBufferPointer { buffer in
            if let directory { return ctr_spawn(executable, buffer.baseAddress, directory, out, err, &pid) }
            return ctr_spawn(executable, buffer.baseAddress, nil, out, err, &pid)
        }
        guard code == 0 else { throw Failure(executable: executable, message: String(cString: strerror(code))) }
        return pid
    }

    static func wait(_ pid: pid_t, _ executable: String) throws -> Int32 {
        let status = ctr_wait(pid)
        guard status >= 0 else { throw Failure(executable: executable, message: "waitpid: \(String(cString: strerror(errno)))") }
        return status
    }

    /// The last `count` lines of a log file, for error messages.
    static func tail(_ path: String, lines count: Int = 5) -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 4096 ? size - 4096 : 0)
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        return Array(text.split(separator: "\n", omittingEmptySubsequences: true).suffix(count).map(String.init))
    }

    /// `'text'` for /bin/sh, unless it needs no quoting.
    static func shellQuoted(_ text: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%")
        if !text.isEmpty && text.allSatisfy({ safe.contains($0) }) { return text }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
