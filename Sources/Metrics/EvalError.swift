import Foundation

/// What can go wrong in an evaluation; each message names the file and line, what was
/// found and what was expected.
public enum EvalError: Error, Equatable, CustomStringConvertible {
    /// A prediction that is not a number, is NaN or lies outside [0, 1].
    case badProbability(path: String, line: Int, found: String, reason: String)
    /// A label that is not 0 or 1.
    case badLabel(path: String, line: Int, found: String, format: String)
    /// A weight that is not a finite number ≥ 0.
    case badWeight(path: String, line: Int, found: String)
    /// Two files that must have one line per row have different line counts.
    case lineCountMismatch(path: String, lines: Int, otherPath: String, otherLines: Int)
    /// No rows at all.
    case emptyInput(path: String)
    /// Every row has weight zero.
    case zeroTotalWeight(path: String)
    /// A weight (or the weights' sum) too large or too small for the sums and products the
    /// metrics take (their squares, products of class totals) to stay finite and nonzero.
    case weightOutOfRange(path: String, line: Int?, found: String)
    /// No predictions file to evaluate.
    case noPredictions
    /// A labels file in a format ctr-eval cannot read (yet).
    case unsupportedLabels(path: String, detail: String)
    /// More segment keys than the 32-bit segment ids hold.
    case tooManySegments(path: String, line: Int)
    /// A regression target that is not a finite number (`--task regression`).
    case badTarget(path: String, line: Int, found: String, format: String)
    /// A regression prediction that is not a finite number (`--task regression`).
    case badPrediction(path: String, line: Int, found: String, reason: String)
    /// A training log (`--log-json`) that is not ctr-train's epochs.json.
    case badTrainingLog(path: String, detail: String)

    public var description: String {
        switch self {
        case let .badProbability(path, line, found, reason):
            return "\(path):\(line): \(reason): found \(EvalError.quote(found)); expected a probability in [0, 1]"
        case let .badLabel(path, line, found, format):
            return "\(path):\(line): bad label \(EvalError.quote(found)) (\(format)); expected 0 or 1"
        case let .badWeight(path, line, found):
            return "\(path):\(line): bad weight \(EvalError.quote(found)); expected a finite number ≥ 0"
        case let .lineCountMismatch(path, lines, otherPath, otherLines):
            return "line counts differ: \(path) has \(lines) lines but \(otherPath) has \(otherLines); "
                + "expected one line per row in both"
        case let .emptyInput(path):
            return "\(path): no rows; expected at least one line"
        case let .zeroTotalWeight(path):
            return "\(path): every weight is 0; expected at least one positive weight"
        case let .weightOutOfRange(path, line, found):
            let limits = "0 or a weight from \(EvalError.weightRange.lowerBound) to \(EvalError.weightRange.upperBound)"
            guard let line else {
                return "\(path): the weights sum to \(found); expected a sum of at most \(EvalError.weightRange.upperBound) "
                    + "(only ratios of weights matter: rescale them)"
            }
            return "\(path):\(line): weight \(EvalError.quote(found)) is out of range; expected \(limits) "
                + "(only ratios of weights matter: rescale them)"
        case .noPredictions:
            return "no predictions file; expected at least one"
        case let .unsupportedLabels(path, detail):
            return "\(path): \(detail)"
        case let .tooManySegments(path, line):
            return "\(path):\(line): more than 4,294,967,295 distinct segment keys"
        case let .badTarget(path, line, found, format):
            return "\(path):\(line): bad target \(EvalError.quote(found)) (\(format)); expected a finite number (--task regression)"
        case let .badPrediction(path, line, found, reason):
            return "\(path):\(line): \(reason): found \(EvalError.quote(found)); expected a finite predicted value (--task regression)"
        case let .badTrainingLog(path, detail):
            return "\(path): training log (--log-json): \(detail)"
        }
    }

    /// Positive weights and their sum must lie here, so that squares and products of sums
    /// neither overflow nor vanish.
    static let weightRange: ClosedRange<Double> = 1e-150...1e150

    /// A bounded, quoted rendering of a bad field for messages.
    static func quote(_ text: String) -> String {
        var shown = text.count > 60 ? String(text.prefix(60)) + "…" : text
        shown = shown.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\t", with: "\\t")
        return "\"\(shown)\""
    }
}
