import Foundation
import LogIO
/// A parsed JSON value that keeps object keys in file order, integers apart from
/// doubles, and (through `JSONParser`) where each value sits in the source, so that
/// pipeline errors can name both the JSON path and the line.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    /// Entries in source order; keys are unique (the parser rejects duplicates).
    case object([(key: String, value: JSONValue)])

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.double(a), .double(b)): return a == b
        case let (.int(a), .double(b)), let (.double(b), .int(a)): return Double(a) == b
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            // Key order does not make two objects different.
            guard a.count == b.count else { return false }
            var other: [String: JSONValue] = [:]
            for entry in b { other[entry.key] = entry.value }
            return a.allSatisfy { other[$0.key] == $0.value }
        default: return false
        }
    }

    /// The value under `key` when this is an object.
    public subscript(key: String) -> JSONValue? {
        guard case let .object(entries) = self else { return nil }
        return entries.first { $0.key == key }?.value
    }

    public var objectEntries: [(key: String, value: JSONValue)]? {
        if case let .object(entries) = self { return entries }
        return nil
    }

    public var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    public var doubleValue: Double? {
        switch self {
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: return nil
        }
    }

    /// A short description of the value's type and, for scalars, the value itself, for
    /// messages such as "expected an integer, found a string \"4\"".
    public var found: String {
        switch self {
        case .null: return "null"
        case let .bool(b): return "a boolean (\(b))"
        case let .int(i): return "an integer (\(i))"
        case let .double(d): return "a number (\(JSONValue.format(d)))"
        case let .string(s): return "a string (\"\(s)\")"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Returns a copy with `value` stored at `path` (object keys), creating objects on the way.
    public func setting(_ value: JSONValue, at path: ArraySlice<String>) -> JSONValue {
        guard let key = path.first else { return value }
        var entries = objectEntries ?? []
        if let index = entries.firstIndex(where: { $0.key == key }) {
            entries[index].value = entries[index].value.setting(value, at: path.dropFirst())
        } else {
            entries.append((key, JSONValue.object([]).setting(value, at: path.dropFirst())))
        }
        return .object(entries)
    }

    // MARK: Writing

    /// JSON text. `sortedKeys` gives the canonical form used in fingerprints;
    /// `pretty` indents by two spaces.
    public func text(pretty: Bool = false, sortedKeys: Bool = false) -> String {
        var out = ""
        write(into: &out, pretty: pretty, sortedKeys: sortedKeys, indent: 0)
        return out
    }

    private func write(into out: inout String, pretty: Bool, sortedKeys: Bool, indent: Int) {
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .double(d): out += d.isFinite ? JSONValue.format(d) : "null"
        case let .string(s): out += JSONText.quoted(s)
        case let .array(items):
            if items.isEmpty { out += "[]"; return }
            // Short arrays of scalars stay on one line even when pretty.
            let inline = !pretty || (items.count <= 16 && items.allSatisfy(\.isScalar))
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += inline && pretty ? ", " : "," }
                if !inline { out += "\n" + String(repeating: "  ", count: indent + 1) }
                item.write(into: &out, pretty: pretty, sortedKeys: sortedKeys, indent: indent + 1)
            }
            if !inline { out += "\n" + String(repeating: "  ", count: indent) }
            out += "]"
        case let .object(entries):
            if entries.isEmpty { out += "{}"; return }
            let ordered = sortedKeys ? entries.sorted { $0.key < $1.key } : entries
            out += "{"
            for (i, entry) in ordered.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
                out += JSONText.quoted(entry.key)
                out += pretty ? ": " : ":"
                entry.value.write(into: &out, pretty: pretty, sortedKeys: sortedKeys, indent: indent + 1)
            }
            if pretty { out += "\n" + String(repeating: "  ", count: indent) }
            out += "}"
        }
    }

    var isScalar: Bool {
        switch self {
        case .array, .object: return false
        default: return true
        }
    }

    /// Shortest text that reads back as the same Double ("0.1", "2e-05", "4.0").
    public static func format(_ d: Double) -> String { "\(d)" }
}

extension JSONValue: Codable {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null; return }
        if let b = try? container.decode(Bool.self) { self = .bool(b); return }
        if let i = try? container.decode(Int64.self) { self = .int(i); return }
        if let d = try? container.decode(Double.self) { self = .double(d); return }
        if let s = try? container.decode(String.self) { self = .string(s); return }
        if let a = try? container.decode([JSONValue].self) { self = .array(a); return }
        // Codable dictionaries lose key order; re-sorting keeps the result deterministic.
        let d = try container.decode([String: JSONValue].self)
        self = .object(d.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case let .bool(b): try container.encode(b)
        case let .int(i): try container.encode(i)
        case let .double(d): if d.isFinite { try container.encode(d) } else { try container.encodeNil() }
        case let .string(s): try container.encode(s)
        case let .array(a): try container.encode(a)
        case let .object(entries):
            var d: [String: JSONValue] = [:]
            for entry in entries { d[entry.key] = entry.value }
            try container.encode(d)
        }
    }
}

/// A line and column (both from 1) in a JSON text.
public struct SourcePosition: Equatable, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var description: String { "\(line):\(column)" }

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
}

/// A strict JSON parser (RFC 8259: no comments, no trailing commas) that records the
/// source position of every value by its JSON path, and rejects duplicate keys (which
/// a map-based decoder would silently resolve to one of them). Arrays and objects may
/// nest at most `maxDepth` levels, so neither the parser nor anything recursive over the
/// values it returns (`text()`, `==`, decoding) can run out of stack.
public struct JSONParser {
    /// The deepest nesting of arrays and objects accepted (the top-level value is level 1).
    public static let maxDepth = 256

    public struct SyntaxError: Error, Equatable, CustomStringConvertible {
        public var position: SourcePosition
        public var message: String
        public var description: String { "\(position): \(message)" }
    }

    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0
    private var depth = 0
    /// Where each value starts, by JSON path ("" for the root, "stages.train.params.k").
    public private(set) var positions: [String: SourcePosition] = [:]
    /// Integers outside Int64's range (`.double` in the value) as written, by JSON path,
    /// so that a decoder can still read a UInt64 exactly.
    public private(set) var wideIntegers: [String: String] = [:]

    public init(_ text: String) { bytes = Array(text.utf8) }
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Parses the whole text as one JSON value.
    public mutating func parse() throws -> JSONValue {
        skipWhitespace()
        let value = try parseValue(path: "")
        skipWhitespace()
        if index < bytes.count { throw error("unexpected text after the end of the JSON value") }
        return value
    }

    /// Parses `text`, returning nil when it is not exactly one JSON value.
    public static func parseOrNil(_ text: String) -> JSONValue? {
        var parser = JSONParser(text)
        return try? parser.parse()
    }

    private var position: SourcePosition { SourcePosition(line: line, column: index - lineStart + 1) }

    private func error(_ message: String) -> SyntaxError { SyntaxError(position: position, message: message) }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0D: index += 1
            case 0x0A: index += 1; line += 1; lineStart = index
            default: return
            }
        }
    }

    private mutating func parseValue(path: String) throws -> JSONValue {
        guard index < bytes.count else { throw error("unexpected end of the file; expected a value") }
        positions[path] = position
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(path: path)
        case UInt8(ascii: "["): return try parseArray(path: path)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber(path: path)
        case UInt8(ascii: "/"): throw error("comments are not allowed in JSON")
        default:
            throw error("unexpected character '\(Character(Unicode.Scalar(bytes[index])))'; expected a value")
        }
    }

    private mutating func expectWord(_ word: StaticString) throws {
        let w = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard index + w.count <= bytes.count, bytes[index..<index + w.count].elementsEqual(w) else {
            throw error("invalid literal; expected \(word)")
        }
        index += w.count
    }

    private static func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : path + "." + key
    }

    /// Enters an array or object at the current position; throws past `maxDepth`.
    private mutating func enterContainer() throws {
        depth += 1
        guard depth <= JSONParser.maxDepth else {
            throw error("arrays and objects nested more than \(JSONParser.maxDepth) levels deep; expected at most \(JSONParser.maxDepth)")
        }
        index += 1
    }

    private mutating func parseObject(path: String) throws -> JSONValue {
        try enterContainer()
        defer { depth -= 1 }
        var entries: [(key: String, value: JSONValue)] = []
        var seen = Set<String>()
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object([]) }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") { throw error("trailing comma before '}'") }
                throw error(index < bytes.count ? "expected a key in double quotes" : "unexpected end of the file; expected a key in double quotes")
            }
            let keyPosition = position
            let key = try parseString()
            guard seen.insert(key).inserted else {
                throw SyntaxError(position: keyPosition, message: "duplicate key \"\(key)\" in \(path.isEmpty ? "the top-level object" : path)")
            }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after key \"\(key)\"") }
            index += 1
            skipWhitespace()
            entries.append((key, try parseValue(path: JSONParser.join(path, key))))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of the file; expected ',' or '}'") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(entries) }
            throw error("expected ',' or '}'")
        }
    }

    private mutating func parseArray(path: String) throws -> JSONValue {
        try enterContainer()
        defer { depth -= 1 }
        var items: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array([]) }
        while true {
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { throw error("trailing comma before ']'") }
            items.append(try parseValue(path: "\(path)[\(items.count)]"))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of the file; expected ',' or ']'") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
            throw error("expected ',' or ']'")
        }
    }

    private mutating func parseString() throws -> String {
        index += 1
        var scalars = String.UnicodeScalarView()
        var runStart = index
        func flushRun(_ end: Int) { if end > runStart { scalars.append(contentsOf: String(decoding: bytes[runStart..<end], as: UTF8.self).unicodeScalars) } }
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                flushRun(index)
                index += 1
                return String(scalars)
            }
            if b < 0x20 {
                throw error(b == 0x0A ? "unterminated string (newline inside a string)" : "control character inside a string")
            }
            if b == UInt8(ascii: "\\") {
                flushRun(index)
                index += 1
                guard index < bytes.count else { break }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired surrogate in \\u escape")
                        }
                        index += 2
                        let low = try parseHex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("invalid low surrogate in \\u escape") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
                    scalars.append(scalar)
                default: throw error("invalid escape '\\\(Character(Unicode.Scalar(e)))' in a string")
                }
                runStart = index
                continue
            }
            index += 1
        }
        throw error("unterminated string")
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v << 4 | UInt32(d)
            index += 1
        }
        return v
    }

    private mutating func parseNumber(path: String) throws -> JSONValue {
        let start = index
        var isInteger = true
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        func digits() -> Int {
            let s = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index - s
        }
        let intDigits = digits()
        guard intDigits > 0 else { throw error("invalid number: expected a digit") }
        if intDigits > 1, bytes[index - intDigits] == UInt8(ascii: "0") {
            index -= intDigits
            throw error("invalid number: leading zero")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard digits() > 0 else { throw error("invalid number: expected a digit after '.'") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw error("invalid number: expected a digit in the exponent") }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if isInteger, let i = Int64(text) { return .int(i) }
        guard let d = Double(text), d.isFinite else { throw error("number \(text) is out of range") }
        if isInteger { wideIntegers[path] = text }
        return .double(d)
    }
}
