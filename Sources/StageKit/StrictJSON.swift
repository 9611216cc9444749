import Foundation

/// A problem in a JSON file: where (JSON path, and line:column when known) and what was
/// found and expected. Subsystems wrap it in their own error with the file's path.
public struct JSONInputProblem: Error, Equatable, Sendable, CustomStringConvertible {
    /// "" for the whole document, else e.g. "fields.I1.bins" or "columns[2].name".
    public var jsonPath: String
    public var position: SourcePosition?
    /// What was found and what was expected, e.g. `found a number (1.5); expected an integer`.
    public var message: String
    /// True when the text is not JSON at all (a syntax error at `position`).
    public var isSyntax: Bool

    public init(jsonPath: String, position: SourcePosition?, message: String, isSyntax: Bool = false) {
        self.jsonPath = jsonPath
        self.position = position
        self.message = message
        self.isSyntax = isSyntax
    }

    /// `3:14: fields.I1.bins: found …` (without the file, which the caller adds).
    public var description: String {
        var parts: [String] = []
        if let position { parts.append(position.description) }
        if !jsonPath.isEmpty { parts.append(jsonPath) }
        parts.append(message)
        return parts.joined(separator: ": ")
    }
}

/// The one strict reader for JSON files people write (schemas, features configs): the
/// text is parsed by `JSONParser` (RFC 8259 only: no comments, trailing commas or
/// duplicate keys, bounded nesting; positions recorded), then a `Decodable` is decoded
/// from the parsed value. Every problem is a `JSONInputProblem` with the JSON path, the
/// line:column, what was found and what was expected.
public struct StrictJSONDocument: Sendable {
    public let root: JSONValue
    /// Where each value starts, by JSON path (see `JSONParser.positions`).
    public let positions: [String: SourcePosition]
    /// Integer literals outside Int64's range, by JSON path (see `JSONParser.wideIntegers`).
    let wideIntegers: [String: String]

    /// Parses `bytes`; a syntax error is a `JSONInputProblem` with `isSyntax` set.
    public init(bytes: [UInt8]) throws {
        var parser = JSONParser(bytes: bytes)
        do {
            root = try parser.parse()
        } catch let e as JSONParser.SyntaxError {
            throw JSONInputProblem(jsonPath: "", position: e.position, message: "invalid JSON: \(e.message)", isSyntax: true)
        }
        positions = parser.positions
        wideIntegers = parser.wideIntegers
    }

    public init(data: Data) throws { try self.init(bytes: Array(data)) }

    /// Decodes `type` from the document. Decoding errors (including those a type's own
    /// `init(from:)` throws) become `JSONInputProblem`s; other errors pass through.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try JSONValueDecoder(value: root, codingPath: [], wideIntegers: wideIntegers).decodeValue(T.self)
        } catch let error as DecodingError {
            throw problem(error)
        }
    }

    /// Where the value at `jsonPath` starts, or its nearest enclosing value's start.
    public func position(of jsonPath: String) -> SourcePosition? {
        var p = jsonPath == "$" ? "" : jsonPath
        while true {
            if let found = positions[p] { return found }
            guard !p.isEmpty else { return nil }
            if let cut = p.lastIndex(where: { $0 == "." || $0 == "[" }) { p = String(p[..<cut]) } else { p = "" }
        }
    }

    /// A decoding error (from `decode` or from Foundation's `JSONDecoder` over the same
    /// text) as a problem at its JSON path and position.
    public func problem(_ error: DecodingError) -> JSONInputProblem {
        func make(_ keys: [CodingKey], _ message: String) -> JSONInputProblem {
            let path = StrictJSONDocument.path(keys)
            return JSONInputProblem(jsonPath: path, position: position(of: path), message: message)
        }
        func found(_ keys: [CodingKey], _ type: Any.Type, _ description: String) -> String {
            // This module's decoder already says what it found; others get it from the value.
            if description.hasPrefix("found ") { return description }
            let value = self.value(at: keys)
            return "found \(value?.found ?? "nothing"); expected \(ParamType.of(type))"
        }
        switch error {
        case let .keyNotFound(key, context):
            return make(context.codingPath + [key], "is missing; expected a value for \"\(key.stringValue)\"")
        case let .typeMismatch(type, context):
            return make(context.codingPath, found(context.codingPath, type, context.debugDescription))
        case let .valueNotFound(type, context):
            return make(context.codingPath, found(context.codingPath, type, context.debugDescription))
        case let .dataCorrupted(context):
            return make(context.codingPath, context.debugDescription)
        @unknown default:
            return make([], "\(error)")
        }
    }

    /// The value at a coding path, when there is one.
    func value(at keys: [CodingKey]) -> JSONValue? {
        var current = root
        for key in keys {
            switch current {
            case let .array(items):
                guard let i = key.intValue, items.indices.contains(i) else { return nil }
                current = items[i]
            case .object:
                guard let next = current[key.stringValue] else { return nil }
                current = next
            default:
                return nil
            }
        }
        return current
    }

    /// A coding path as a JSON path in `JSONParser.positions`' form: `a.b[2].c`.
    public static func path(_ keys: [CodingKey]) -> String {
        var out = ""
        for key in keys {
            if let i = key.intValue, key is JSONIndexKey || key.stringValue == "Index \(i)" {
                out += "[\(i)]"
            } else {
                out += (out.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return out
    }
}

/// The coding key of an array element.
struct JSONIndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { return nil }
}

/// A `Decoder` over a parsed `JSONValue`. Strict: integers must be JSON integers that fit,
/// numbers may be integers or decimals, choices (`String` enums that are `CaseIterable`)
/// must be one of their raw values, and every error says what was found and expected.
struct JSONValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [CodingKey]
    let wideIntegers: [String: String]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func mismatch(_ type: Any.Type, expected: String) -> DecodingError {
        if value == .null {
            return .valueNotFound(type, .init(codingPath: codingPath, debugDescription: "found null; expected \(expected)"))
        }
        return .typeMismatch(type, .init(codingPath: codingPath, debugDescription: "found \(value.found); expected \(expected)"))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case let .object(entries) = value else { throw mismatch([String: JSONValue].self, expected: "an object") }
        return KeyedDecodingContainer(KeyedContainer<Key>(entries: entries, codingPath: codingPath, wideIntegers: wideIntegers))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case let .array(items) = value else { throw mismatch([JSONValue].self, expected: "an array") }
        return UnkeyedContainer(items: items, codingPath: codingPath, wideIntegers: wideIntegers)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { SingleValueContainer(decoder: self) }

    func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        let text: String
        switch value {
        case let .int(i): text = String(i)
        case .double where wideIntegers[StrictJSONDocument.path(codingPath)] != nil: text = wideIntegers[StrictJSONDocument.path(codingPath)]!
        default: throw mismatch(type, expected: "an integer")
        }
        guard let v = I(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "found \(text); expected an integer in \(I.min)…\(I.max)"))
        }
        return v
    }

    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        switch type {
        case is JSONValue.Type:
            return value as! T
        case is Bool.Type:
            guard case let .bool(b) = value else { throw mismatch(type, expected: "true or false") }
            return b as! T
        case is String.Type:
            guard case let .string(s) = value else { throw mismatch(type, expected: "a string") }
            return s as! T
        case is Double.Type:
            guard let d = value.doubleValue else { throw mismatch(type, expected: "a number") }
            return d as! T
        case is Float.Type:
            guard let d = value.doubleValue else { throw mismatch(type, expected: "a number") }
            return Float(d) as! T
        default:
            if let integerType = type as? any FixedWidthInteger.Type {
                return try integer(integerType) as! T
            }
            if let choices = ParamType.choiceValues(type) {
                let expected = "one of " + choices.map { "\"\($0)\"" }.joined(separator: ", ")
                guard case let .string(s) = value else { throw mismatch(type, expected: expected) }
                guard choices.contains(s) else {
                    throw DecodingError.dataCorrupted(.init(codingPath: codingPath,
                        debugDescription: "found \"\(s)\"; expected \(expected)" + Suggest.hint(s, choices)))
                }
            }
            return try T(from: self)
        }
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let entries: [(key: String, value: JSONValue)]
    let values: [String: JSONValue]
    let codingPath: [CodingKey]
    let wideIntegers: [String: String]

    init(entries: [(key: String, value: JSONValue)], codingPath: [CodingKey], wideIntegers: [String: String]) {
        self.entries = entries
        self.values = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        self.codingPath = codingPath
        self.wideIntegers = wideIntegers
    }

    var allKeys: [Key] { entries.compactMap { Key(stringValue: $0.key) } }
    func contains(_ key: Key) -> Bool { values[key.stringValue] != nil }

    func decoder(for key: Key) throws -> JSONValueDecoder {
        guard let value = values[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no key \"\(key.stringValue)\""))
        }
        return JSONValueDecoder(value: value, codingPath: codingPath + [key], wideIntegers: wideIntegers)
    }

    func decodeNil(forKey key: Key) throws -> Bool { try decoder(for: key).value == .null }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decoder(for: key).decodeValue(type) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decoder(for: key).decodeValue(type) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decoder(for: key).decodeValue(type) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decoder(for: key).decodeValue(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decoder(for: key).decodeValue(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decoder(for: key).decodeValue(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decoder(for: key).decodeValue(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decoder(for: key).decodeValue(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decoder(for: key).decodeValue(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decoder(for: key).decodeValue(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decoder(for: key).decodeValue(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decoder(for: key).decodeValue(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decoder(for: key).decodeValue(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decoder(for: key).decodeValue(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decoder(for: key).decodeValue(type) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try decoder(for: key).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer { try decoder(for: key).unkeyedContainer() }
    func superDecoder() throws -> Decoder { JSONValueDecoder(value: .object(entries), codingPath: codingPath, wideIntegers: wideIntegers) }
    func superDecoder(forKey key: Key) throws -> Decoder { try decoder(for: key) }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let codingPath: [CodingKey]
    let wideIntegers: [String: String]
    var currentIndex = 0
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    init(items: [JSONValue], codingPath: [CodingKey], wideIntegers: [String: String]) {
        self.items = items
        self.codingPath = codingPath
        self.wideIntegers = wideIntegers
    }

    mutating func next<T>(_ type: T.Type) throws -> JSONValueDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: codingPath + [JSONIndexKey(currentIndex)],
                debugDescription: "found the end of the array after \(items.count) items; expected more"))
        }
        defer { currentIndex += 1 }
        return JSONValueDecoder(value: items[currentIndex], codingPath: codingPath + [JSONIndexKey(currentIndex)], wideIntegers: wideIntegers)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next(type).decodeValue(type) }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(type).decodeValue(type) }
    mutating func decode(_ type: String.Type) throws -> String { try next(type).decodeValue(type) }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(type).decodeValue(type) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next(type).decodeValue(type) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next(type).decodeValue(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next(type).decodeValue(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next(type).decodeValue(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next(type).decodeValue(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next(type).decodeValue(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next(type).decodeValue(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next(type).decodeValue(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next(type).decodeValue(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next(type).decodeValue(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next(type).decodeValue(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next([String: JSONValue].self).container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try next([JSONValue].self).unkeyedContainer() }
    mutating func superDecoder() throws -> Decoder { try next(JSONValue.self) }
}

private struct SingleValueContainer: SingleValueDecodingContainer {
    let decoder: JSONValueDecoder
    var codingPath: [CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.value == .null }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeValue(type) }
    func decode(_ type: Bool.Type) throws -> Bool { try decoder.decodeValue(type) }
    func decode(_ type: String.Type) throws -> String { try decoder.decodeValue(type) }
    func decode(_ type: Double.Type) throws -> Double { try decoder.decodeValue(type) }
    func decode(_ type: Float.Type) throws -> Float { try decoder.decodeValue(type) }
    func decode(_ type: Int.Type) throws -> Int { try decoder.decodeValue(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.decodeValue(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.decodeValue(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.decodeValue(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.decodeValue(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.decodeValue(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.decodeValue(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.decodeValue(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.decodeValue(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.decodeValue(type) }
}
