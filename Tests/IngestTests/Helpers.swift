import Foundation
import Ingest
import LogIO

/// A parse result copied out of the parser's memory, easy to compare.
enum Parsed: Equatable, CustomStringConvertible {
    case row(label: UInt8?, values: [String])
    case bad(BadRowReason, column: Int)

    var description: String {
        switch self {
        case let .row(label, values): return "row(\(label.map(String.init) ?? "nil"), \(values))"
        case let .bad(reason, column): return "bad(\(reason.rawValue), column \(column))"
        }
    }
}

func parse(_ parser: RowParser, _ line: String) -> Parsed {
    var text = line
    return text.withUTF8 { bytes in
        switch parser.parse(bytes) {
        case .row(let row): return .row(label: row.label, values: row.values.map(\.string))
        case .bad(let bad): return .bad(bad.reason, column: bad.column)
        }
    }
}

func message(_ parser: RowParser, _ line: String) -> String {
    var text = line
    return text.withUTF8 { bytes in
        switch parser.parse(bytes) {
        case .row: return "ok"
        case .bad(let bad): return parser.message(for: bad)
        }
    }
}

func isHeader(_ parser: RowParser, _ line: String) -> Bool {
    var text = line
    return text.withUTF8 { parser.isHeader($0) }
}

/// A Criteo line: label, 13 integers, 26 categorical values.
func criteoLine(label: String = "1", ints: [String]? = nil, cats: [String]? = nil, separator: String = "\t") -> String {
    let i = ints ?? (1...13).map { String($0) }
    let c = cats ?? (1...26).map { String(format: "%08x", $0 * 7919) }
    return ([label] + i + c).joined(separator: separator)
}

func write(_ text: String, to url: URL) throws {
    try Data(text.utf8).write(to: url)
}
