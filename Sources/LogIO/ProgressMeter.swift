import Foundation

/// Progress on stderr for long stages: a live line (rows/s, MB/s, percent of input bytes)
/// only when stderr is a terminal, and a one-line summary at the end either way.
public final class ProgressMeter {
    public let label: String
    public let totalBytes: Int64
    public let live: Bool
    private let started = DispatchTime.now().uptimeNanoseconds
    private var lastPrint: UInt64 = 0
    private var calls = 0

    /// - Parameter live: defaults to whether stderr is a terminal.
    public init(label: String, totalBytes: Int64, live: Bool? = nil) {
        self.label = label
        self.totalBytes = totalBytes
        self.live = live ?? (isatty(2) == 1)
    }

    /// Seconds since the stage started.
    public var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }

    /// Cheap to call per row: looks at the clock once every 16k calls, prints at most 4 times a second.
    @inline(__always)
    public func update(rows: Int, bytes: Int64) {
        guard live else { return }
        calls &+= 1
        guard calls & 0x3FFF == 0 else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastPrint > 250_000_000 else { return }
        lastPrint = now
        let seconds = max(elapsed, 1e-9)
        let percent = totalBytes > 0 ? 100 * Double(bytes) / Double(totalBytes) : 0
        let line = String(format: "\r%@: %@ rows  %.0f rows/s  %.1f MB/s  %.0f%%",
                          label, ProgressMeter.grouped(rows), Double(rows) / seconds,
                          Double(bytes) / seconds / 1e6, percent)
        FileHandle.standardError.write(line.data(using: .utf8)!)
    }

    /// Clears the live line and prints `summary` on stderr.
    public func finish(_ summary: String) {
        var text = summary + "\n"
        if live { text = "\r\u{1B}[K" + text }
        FileHandle.standardError.write(text.data(using: .utf8)!)
    }

    /// Clears the live line.
    public func clear() {
        if live { FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!) }
    }

    /// 1234567 → "1,234,567".
    public static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return n < 0 ? "-" + out : out
    }
}

/// Writes a diagnostic line to stderr.
public func printError(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}
