import ArgumentParser
import Foundation
import StageKit

/// How rows are assigned to train, valid and test.
public enum SplitMode: String, Codable, CaseIterable, Sendable, ParameterChoice {
    /// By position: the last `test` fraction of the valid rows (in input order) is the
    /// test split, the `valid` fraction before it the validation split (click logs are
    /// chronological, so this is a split by time).
    case order
    /// By a seeded hash of the raw line (MurmurHash3 x86_32): each row lands in a split
    /// with probability `valid` / `test`, the same row always in the same split.
    case hash
}

/// Every parameter of ctr-ingest, declared once: the command line's options and a
/// pipeline file's `params` (keys camelCased). Start from `.defaults`.
public struct IngestParams: StageParameters {
    @Option("criteo, criteo-1tb, criteo-kaggle-csv, avazu, ratings, ratings-csv, or the path of a schema JSON file.")
    public var schema = "criteo"

    @Option("Override the schema's header mode: absent, present (the first line of each file must be the header) or auto (skipped when it is the header).")
    public var header: HeaderMode?

    @Option("order: the last fractions of the input are valid and test (by time); hash: a seeded hash of each line picks its split.")
    public var split = SplitMode.order

    @Option("Fraction of rows for the validation split.", in: .halfOpen(0, 1))
    public var valid = 0.1

    @Option("Fraction of rows for the test split.", in: .halfOpen(0, 1))
    public var test = 0.1

    @Option("Seed of the hash split and of negative downsampling.", value: "N")
    public var seed: UInt64 = 0

    @Option("Keep each negative of the training split with this probability (1 keeps all). Recorded in stats.json.", in: .openClosed(0, 1), value: "W")
    public var negKeepRate = 1.0

    @Option("Fail when more than this fraction of the rows is bad.", in: .closed(0, 1), value: "F")
    public var maxBadFraction = 0.01

    public init() {}

    public func check() -> [ParamProblem] {
        guard valid + test < 1 else {
            return [ParamProblem(["valid", "test"], "sum to \(valid + test); expected less than 1 so that the training split is not empty")]
        }
        return []
    }
}

/// Errors of the ingest stage; each says where, what was found and what was expected.
public enum IngestError: Error, Equatable, CustomStringConvertible {
    case noInputs
    /// A file with no data rows (`headerOnly` when it held just a header).
    case emptyInput(path: String, headerOnly: Bool)
    case headerMismatch(path: String, message: String)
    case tooManyBadRows(quarantined: Int, read: Int, maxFraction: Double, byReason: String, quarantinePath: String)
    /// A stats.json that cannot be read; `position` (line:column) when known.
    case badStats(path: String, message: String, position: SourcePosition? = nil)
    case cannotCreateDirectory(path: String, message: String)

    public var description: String {
        switch self {
        case .noInputs:
            return "no input files; expected one or more raw log files (gzip or plain)"
        case let .emptyInput(path, headerOnly):
            return headerOnly ? "\(path): the file holds only a header line; expected data rows after it"
                : "\(path): the file is empty; expected data rows"
        case let .headerMismatch(path, message):
            return "\(path):1: \(message) (the schema says the first line is a header; pass --header auto or absent if it is not)"
        case let .tooManyBadRows(quarantined, read, maxFraction, byReason, quarantinePath):
            let fraction = read > 0 ? Double(quarantined) / Double(read) : 1
            return "\(quarantined) of \(read) rows are bad (\(String(format: "%.4g", fraction * 100))%), more than --max-bad-fraction "
                + "\(maxFraction) allows: \(byReason). Is --schema right? The bad rows are in \(quarantinePath)"
        case let .badStats(path, message, position):
            return "\(path)\(position.map { ":\($0)" } ?? ""): \(message)"
        case let .cannotCreateDirectory(path, message):
            return "\(path.isEmpty ? "\"\"" : path): cannot create the output folder: \(message)"
        }
    }
}
