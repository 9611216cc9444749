import Foundation
import LogIO

/// Where a stage says what it is doing: notes (its summary, the per-epoch table), live
/// progress meters on a terminal, and nothing at all when quiet. Errors are thrown, not
/// reported. The command line writes notes to stderr; the pipeline prefixes each with the
/// stage's name.
public final class Reporter: @unchecked Sendable {
    public let quiet: Bool
    /// Whether progress meters draw a live line (never when quiet).
    public let live: Bool
    private let write: @Sendable (String) -> Void

    /// - Parameters:
    ///   - live: live progress lines; default: when stderr is a terminal.
    ///   - write: where notes go; default: stderr.
    public init(quiet: Bool = false, live: Bool? = nil, write: @escaping @Sendable (String) -> Void = { printError($0) }) {
        self.quiet = quiet
        self.live = !quiet && (live ?? (isatty(2) == 1))
        self.write = write
    }

    /// Says nothing.
    public static var silent: Reporter { Reporter(quiet: true) }

    public func note(_ line: String) {
        if !quiet { write(line) }
    }

    /// A meter for a pass over `totalBytes` of input.
    public func meter(_ label: String, totalBytes: Int64) -> ProgressMeter {
        ProgressMeter(label: label, totalBytes: totalBytes, live: live)
    }
}

/// The one shape of every stage (ingest, hash, train, predict, eval): parameters, the
/// files it reads, where it writes, and a reporter in; a result out. The `ctr-*`
/// executable and the pipeline call the same `run`.
///
/// A stage writes each of its outputs atomically (temp name, fsync, rename).
public protocol Stage {
    associatedtype Params: StageParameters
    associatedtype Inputs
    associatedtype Outputs
    associatedtype Result

    static func run(_ params: Params, inputs: Inputs, outputs: Outputs, reporter: Reporter) throws -> Result
}

/// The SwiftCTR release: `--version` prints it, and pipeline fingerprints record it (a new
/// release re-runs every stage).
public enum SwiftCTRRelease {
    public static let version = "0.1.0"
}
