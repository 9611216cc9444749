import ArgumentParser

/// A type a stage parameter can have: it reads from the command line (ArgumentParser's
/// `ExpressibleByArgument`) and from pipeline JSON, and writes back to both.
public protocol ParameterValue: ExpressibleByArgument, Sendable {
    /// The JSON type, for messages, `ctr-pipeline kinds` and the JSON Schema.
    static var parameterType: ParamType { get }
    /// From pipeline JSON; nil when the JSON value has another type.
    init?(json: JSONValue)
    var json: JSONValue { get }
    /// The command-line text that reads back as this value.
    var argument: String { get }
    /// The value as a number, for range checks (nil for non-numbers).
    var number: Double? { get }
}

extension ParameterValue {
    public var number: Double? { nil }
}

/// Whole numbers: JSON integers that fit the type.
extension ParameterValue where Self: FixedWidthInteger {
    public static var parameterType: ParamType { .integer }
    public init?(json: JSONValue) {
        guard case let .int(i) = json, let v = Self(exactly: i) else { return nil }
        self = v
    }
    public var json: JSONValue { Int64(exactly: self).map { .int($0) } ?? .double(Double(self)) }
    public var argument: String { String(self) }
    public var number: Double? { Double(self) }
}

extension Int: ParameterValue {}
extension UInt64: ParameterValue {}
extension UInt32: ParameterValue {}

extension Double: ParameterValue {
    public static var parameterType: ParamType { .number }
    public init?(json: JSONValue) {
        guard let d = json.doubleValue else { return nil }
        self = d
    }
    public var json: JSONValue { .double(self) }
    /// Swift's shortest text that reads back as the same double.
    public var argument: String { "\(self)" }
    public var number: Double? { self }
}

extension String: ParameterValue {
    public static var parameterType: ParamType { .string }
    public init?(json: JSONValue) {
        guard case let .string(s) = json else { return nil }
        self = s
    }
    public var json: JSONValue { .string(self) }
    public var argument: String { self }
}

/// A choice among named values: a `String`-backed `CaseIterable` enum. `--help` lists
/// the choices (ArgumentParser reads `allCases`), and so do the pipeline's messages and
/// JSON Schema.
public protocol ParameterChoice: ParameterValue, CaseIterable, RawRepresentable where RawValue == String {}

extension ParameterChoice {
    public static var parameterType: ParamType { .choice(allCases.map(\.rawValue)) }
    public init?(json: JSONValue) {
        guard case let .string(s) = json, let v = Self(rawValue: s) else { return nil }
        self = v
    }
    public var json: JSONValue { .string(rawValue) }
    public var argument: String { rawValue }
}
