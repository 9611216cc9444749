import Foundation

/// The JSON type of a parameter, from its declaration. Used to type `--set` values, to
/// list choices in messages, and to write the JSON Schema.
public indirect enum ParamType: Equatable, Sendable, CustomStringConvertible {
    case bool
    case integer
    case number
    case string
    /// A string-valued enum with these raw values.
    case choice([String])
    case array(ParamType)
    /// Any of these (`"auto"` or an integer).
    case oneOf([ParamType])
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
        case let .oneOf(types): return types.map(\.description).joined(separator: " or ")
        case let .other(name): return "a \(name) value"
        }
    }

    public var plural: String {
        switch self {
        case .bool: return "booleans"
        case .integer: return "integers"
        case .number: return "numbers"
        case .string: return "strings"
        case .choice: return "strings"
        case .array: return "arrays"
        case .oneOf: return "values"
        case let .other(name): return "\(name) values"
        }
    }

    public static func of<T>(_ type: T.Type) -> ParamType {
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
    public static func choiceValues<T>(_ type: T.Type) -> [String]? {
        guard let iterable = type as? any CaseIterable.Type else { return nil }
        func cases<C: CaseIterable>(_ c: C.Type) -> [Any] { Array(c.allCases) }
        let all = cases(iterable)
        let raw = all.compactMap { ($0 as? any RawRepresentable)?.rawValue as? String }
        return raw.count == all.count && !raw.isEmpty ? raw : nil
    }
}
