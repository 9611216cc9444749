import Foundation

/// The JSON type a parameter key is decoded as, learnt by watching a `Params` type
/// decode itself. Used to type `--set` values, to list choices in messages, and to
/// write the JSON Schema.
public indirect enum ParamType: Equatable, Sendable, CustomStringConvertible {
    case bool
    case integer
    case number
    case string
    /// A string-valued enum with these raw values.
    case choice([String])
    case array(ParamType)
    /// Any other Decodable type (a nested struct, a dictionary, ...), by its Swift name.
    case other(String)

    public var description: String {
        switch self {
        case .bool: return "a boolean"
        case .integer: return "an integer"
        case .number: return "a number"
        case .string: return "a string"
        case let .choice(values): return "one of " + values.map { "\"\($0)\"" }.joined(separator: ", ")
        case let .array(element): return "an array of \(element.plural)"
        case let .other(name): return "a \(name) value"
        }
    }

    var plural: String {
        switch self {
        case .bool: return "booleans"
        case .integer: return "integers"
        case .number: return "numbers"
        case .string: return "strings"
        case .choice: return "strings"
        case .array: return "arrays"
        case let .other(name): return "\(name) values"
        }
    }

    static func of<T>(_ type: T.Type) -> ParamType {
        switch type {
        case is Bool.Type: return .bool
        case is Int.Type, is Int8.Type, is Int16.Type, is Int32.Type, is Int64.Type,
             is UInt.Type, is UInt8.Type, is UInt16.Type, is UInt32.Type, is UInt64.Type: return .integer
        case is Double.Type, is Float.Type: return .number
        case is String.Type: return .string
        case is [String].Type: return .array(.string)
        case is [Int].Type, is [Int64].Type, is [Int32].Type: return .array(.integer)
        case is [Double].Type, is [Float].Type: return .array(.number)
        default:
            if let choices = choiceValues(type) { return .choice(choices) }
            return .other(String(describing: type))
        }
    }

    /// The raw values of a `String`-backed `CaseIterable` enum, found at run time.
    static func choiceValues<T>(_ type: T.Type) -> [String]? {
        guard let iterable = type as? any CaseIterable.Type else { return nil }
        func cases<C: CaseIterable>(_ c: C.Type) -> [Any] { Array(c.allCases) }
        let all = cases(iterable)
        let raw = all.compactMap { ($0 as? any RawRepresentable)?.rawValue as? String }
        return raw.count == all.count && !raw.isEmpty ? raw : nil
    }
}

/// What a strict decode saw: the keys each object container asked for (with their
/// types), and which objects were opened as keyed containers.
final class DecodeRecorder {
    /// Object path (relative to the decoded root, "" for the root) -> key -> type asked for.
    var queried: [String: [String: ParamType]] = [:]
    /// Order in which keys were first asked for, per object path.
    var order: [String: [String]] = [:]
    var objects: [String: [(key: String, value: JSONValue)]] = [:]

    func record(path: String, key: String, type: ParamType) {
        if queried[path, default: [:]][key] == nil { order[path, default: []].append(key) }
        queried[path, default: [:]][key] = type
    }

    /// Keys present in the JSON but never asked for: (object path, key, keys that were asked for).
    func unknownKeys() -> [(path: String, key: String, known: [String])] {
        var result: [(String, String, [String])] = []
        for path in objects.keys.sorted() {
            let asked = queried[path] ?? [:]
            for entry in objects[path]! where asked[entry.key] == nil {
                result.append((path, entry.key, order[path] ?? []))
            }
        }
        return result
    }
}

/// JSON paths: "a.b[2].c". Keys that are not identifiers are written ["like this"].
enum JSONPath {
    static func join(_ base: String, _ key: String) -> String {
        let simple = !key.isEmpty && key.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-" }
        if !simple { return base + "[\"\(key)\"]" }
        return base.isEmpty ? key : base + "." + key
    }

    static func join(_ base: String, index: Int) -> String { base + "[\(index)]" }

    static func string(_ codingPath: [CodingKey]) -> String {
        var path = ""
        for key in codingPath {
            if let i = key.intValue, key.stringValue.hasPrefix("Index") || key.stringValue == "\(i)" {
                path = join(path, index: i)
            } else {
                path = join(path, key.stringValue)
            }
        }
        return path
    }
}

struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String
    init(_ i: Int) { intValue = i; stringValue = "\(i)" }
    init?(intValue: Int) { self.init(intValue) }
    init?(stringValue: String) { return nil }
}

/// A `Decoder` over a `JSONValue` that is strict where Foundation's is lenient: it
/// records which keys the decoded type asked for (so unknown keys can be reported),
/// never turns a string into a number, and says "expected X, found Y" in every error.
struct StrictDecoder: Decoder {
    let value: JSONValue
    let codingPath: [CodingKey]
    let recorder: DecodeRecorder
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(value: JSONValue, codingPath: [CodingKey] = [], recorder: DecodeRecorder) {
        self.value = value
        self.codingPath = codingPath
        self.recorder = recorder
    }

    /// Decodes `T` from `value`, returning the value and what the decode saw.
    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> (T, DecodeRecorder) {
        let recorder = DecodeRecorder()
        let result = try T(from: StrictDecoder(value: value, recorder: recorder))
        return (result, recorder)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case let .object(entries) = value else {
            throw DecodingError.typeMismatch([String: Any].self, .init(codingPath: codingPath, debugDescription: "expected an object, found \(value.found)"))
        }
        let path = JSONPath.string(codingPath)
        recorder.objects[path] = entries
        if recorder.queried[path] == nil { recorder.queried[path] = [:] }
        return KeyedDecodingContainer(StrictKeyedContainer<Key>(entries: entries, codingPath: codingPath, path: path, recorder: recorder))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case let .array(items) = value else {
            throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "expected an array, found \(value.found)"))
        }
        return StrictUnkeyedContainer(items: items, codingPath: codingPath, recorder: recorder)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer {
        StrictSingleValue(value: value, codingPath: codingPath, recorder: recorder)
    }
}

/// Scalar conversions shared by the three container kinds.
enum StrictScalar {
    static func mismatch<T>(_ type: T.Type, _ value: JSONValue, _ path: [CodingKey]) -> DecodingError {
        .typeMismatch(type, .init(codingPath: path, debugDescription: "expected \(ParamType.of(type)), found \(value.found)"))
    }

    static func bool(_ value: JSONValue, _ path: [CodingKey]) throws -> Bool {
        if case let .bool(b) = value { return b }
        throw mismatch(Bool.self, value, path)
    }

    static func string(_ value: JSONValue, _ path: [CodingKey]) throws -> String {
        if case let .string(s) = value { return s }
        throw mismatch(String.self, value, path)
    }

    static func double(_ value: JSONValue, _ path: [CodingKey]) throws -> Double {
        switch value {
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: throw mismatch(Double.self, value, path)
        }
    }

    static func integer<T: FixedWidthInteger>(_ type: T.Type, _ value: JSONValue, _ path: [CodingKey]) throws -> T {
        let wide: Int64
        switch value {
        case let .int(i): wide = i
        case let .double(d) where d.rounded() == d && abs(d) < 9.2e18: wide = Int64(d)
        default: throw mismatch(type, value, path)
        }
        guard let narrow = T(exactly: wide) else {
            throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "\(wide) is out of range: expected an integer in \(T.min)...\(T.max)"))
        }
        return narrow
    }

    /// Decodes any Decodable through a nested strict decoder, turning a failed
    /// `String`-enum conversion into a message that lists the choices.
    static func decode<T: Decodable>(_ type: T.Type, _ value: JSONValue, _ path: [CodingKey], _ recorder: DecodeRecorder) throws -> T {
        switch type {
        case is Bool.Type: return try bool(value, path) as! T
        case is String.Type: return try string(value, path) as! T
        case is Double.Type: return try double(value, path) as! T
        case is Float.Type: return Float(try double(value, path)) as! T
        case is Int.Type: return try integer(Int.self, value, path) as! T
        case is Int64.Type: return try integer(Int64.self, value, path) as! T
        case is Int32.Type: return try integer(Int32.self, value, path) as! T
        case is UInt64.Type: return try integer(UInt64.self, value, path) as! T
        case is UInt32.Type: return try integer(UInt32.self, value, path) as! T
        case is UInt.Type: return try integer(UInt.self, value, path) as! T
        default: break
        }
        do {
            return try T(from: StrictDecoder(value: value, codingPath: path, recorder: recorder))
        } catch let error as DecodingError {
            if let choices = ParamType.choiceValues(type) {
                guard case let .string(s) = value else {
                    throw DecodingError.typeMismatch(type, .init(codingPath: path, debugDescription: "expected \(ParamType.choice(choices)), found \(value.found)"))
                }
                var message = "\"\(s)\" is not a valid choice; expected \(ParamType.choice(choices))"
                if let guess = Suggest.closest(to: s, among: choices) { message += " (did you mean \"\(guess)\"?)" }
                throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: message))
            }
            throw error
        }
    }
}

struct StrictKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let entries: [(key: String, value: JSONValue)]
    let codingPath: [CodingKey]
    let path: String
    let recorder: DecodeRecorder

    var allKeys: [Key] {
        // A type that enumerates keys (a dictionary) accepts every key present.
        for entry in entries { recorder.record(path: path, key: entry.key, type: .other("value")) }
        return entries.compactMap { Key(stringValue: $0.key) }
    }

    private func lookup(_ key: Key) -> JSONValue? { entries.first { $0.key == key.stringValue }?.value }

    private func note<T>(_ key: Key, _ type: T.Type) { recorder.record(path: path, key: key.stringValue, type: .of(type)) }

    func contains(_ key: Key) -> Bool {
        recorder.record(path: path, key: key.stringValue, type: recorder.queried[path]?[key.stringValue] ?? .other("value"))
        return lookup(key) != nil
    }

    private func required(_ key: Key) throws -> JSONValue {
        guard let value = lookup(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing required key \"\(key.stringValue)\""))
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        recorder.record(path: path, key: key.stringValue, type: recorder.queried[path]?[key.stringValue] ?? .other("value"))
        return lookup(key) == nil || lookup(key) == .null
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        note(key, type)
        return try StrictScalar.decode(type, try required(key), codingPath + [key], recorder)
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        note(key, type)
        guard let value = lookup(key), value != .null else { return nil }
        return try StrictScalar.decode(type, value, codingPath + [key], recorder)
    }

    // The concrete overloads route through the generic ones so every key is recorded
    // with its type, including absent ones (the probe of an empty object relies on it).
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decode(type as Bool.Type, key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decode(type as String.Type, key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decode(type as Double.Type, key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decode(type as Float.Type, key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decode(type as Int.Type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decode(type as Int8.Type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decode(type as Int16.Type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decode(type as Int32.Type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decode(type as Int64.Type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decode(type as UInt.Type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decode(type as UInt8.Type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decode(type as UInt16.Type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decode(type as UInt32.Type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decode(type as UInt64.Type, key) }

    private func decode<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
        note(key, type)
        let value = try required(key)
        if type == Int8.self || type == Int16.self || type == UInt8.self || type == UInt16.self {
            return try StrictScalar.anyInteger(type as! any FixedWidthInteger.Type, value, codingPath + [key]) as! T
        }
        return try StrictScalar.decode(type, value, codingPath + [key], recorder)
    }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try present(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try present(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try present(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try present(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try present(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try present(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try present(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try present(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try present(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try present(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try present(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try present(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try present(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try present(type, key) }

    private func present<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        note(key, type)
        guard let value = lookup(key), value != .null else { return nil }
        return try decode(type, key)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        recorder.record(path: path, key: key.stringValue, type: .other("object"))
        return try StrictDecoder(value: try required(key), codingPath: codingPath + [key], recorder: recorder).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        recorder.record(path: path, key: key.stringValue, type: .other("array"))
        return try StrictDecoder(value: try required(key), codingPath: codingPath + [key], recorder: recorder).unkeyedContainer()
    }

    func superDecoder() throws -> Decoder {
        StrictDecoder(value: .object(entries), codingPath: codingPath, recorder: recorder)
    }

    func superDecoder(forKey key: Key) throws -> Decoder {
        recorder.record(path: path, key: key.stringValue, type: .other("value"))
        return StrictDecoder(value: lookup(key) ?? .null, codingPath: codingPath + [key], recorder: recorder)
    }
}

struct StrictUnkeyedContainer: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let codingPath: [CodingKey]
    let recorder: DecodeRecorder
    var currentIndex = 0
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    init(items: [JSONValue], codingPath: [CodingKey], recorder: DecodeRecorder) {
        self.items = items
        self.codingPath = codingPath
        self.recorder = recorder
    }

    private mutating func next() throws -> (JSONValue, [CodingKey]) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "expected more array elements"))
        }
        defer { currentIndex += 1 }
        return (items[currentIndex], codingPath + [IndexKey(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        if items[currentIndex] == .null { currentIndex += 1; return true }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (value, path) = try next()
        if type == Int8.self || type == Int16.self || type == UInt8.self || type == UInt16.self {
            return try StrictScalar.anyInteger(type as! any FixedWidthInteger.Type, value, path) as! T
        }
        return try StrictScalar.decode(type, value, path, recorder)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (value, path) = try next()
        return try StrictDecoder(value: value, codingPath: path, recorder: recorder).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
        let (value, path) = try next()
        return try StrictDecoder(value: value, codingPath: path, recorder: recorder).unkeyedContainer()
    }

    mutating func superDecoder() throws -> Decoder {
        let (value, path) = try next()
        return StrictDecoder(value: value, codingPath: path, recorder: recorder)
    }
}

struct StrictSingleValue: SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [CodingKey]
    let recorder: DecodeRecorder

    func decodeNil() -> Bool { value == .null }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if type == Int8.self || type == Int16.self || type == UInt8.self || type == UInt16.self {
            return try StrictScalar.anyInteger(type as! any FixedWidthInteger.Type, value, codingPath) as! T
        }
        return try StrictScalar.decode(type, value, codingPath, recorder)
    }
}

extension StrictScalar {
    static func anyInteger(_ type: any FixedWidthInteger.Type, _ value: JSONValue, _ path: [CodingKey]) throws -> Any {
        func go<I: FixedWidthInteger>(_ t: I.Type) throws -> Any { let i: I = try integer(t, value, path); return i }
        return try go(type)
    }
}
