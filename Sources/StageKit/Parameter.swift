import ArgumentParser
import Foundation

/// The allowed range of a numeric parameter, checked the same way for the command line
/// and for pipeline files. Doubles must also be finite.
public struct Bounds: Sendable, Equatable {
    public var lower: Double?
    public var lowerOpen = false
    public var upper: Double?
    public var upperOpen = false

    /// `[a, b]`
    public static func closed(_ a: Double, _ b: Double) -> Bounds { Bounds(lower: a, upper: b) }
    /// `[a, b)`
    public static func halfOpen(_ a: Double, _ b: Double) -> Bounds { Bounds(lower: a, upper: b, upperOpen: true) }
    /// `(a, b]`
    public static func openClosed(_ a: Double, _ b: Double) -> Bounds { Bounds(lower: a, lowerOpen: true, upper: b) }
    /// `(a, b)`
    public static func open(_ a: Double, _ b: Double) -> Bounds { Bounds(lower: a, lowerOpen: true, upper: b, upperOpen: true) }
    /// `[a, ∞)`
    public static func atLeast(_ a: Double) -> Bounds { Bounds(lower: a) }
    /// `(a, ∞)`
    public static func above(_ a: Double) -> Bounds { Bounds(lower: a, lowerOpen: true) }

    public func contains(_ x: Double) -> Bool {
        guard x.isFinite else { return false }
        if let lower, lowerOpen ? !(x > lower) : !(x >= lower) { return false }
        if let upper, upperOpen ? !(x < upper) : !(x <= upper) { return false }
        return true
    }

    /// "an integer from 1 to 4096", "a number in (0, 1]", "a number > 0".
    func describe(integer: Bool) -> String {
        func text(_ d: Double) -> String { integer || d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : "\(d)" }
        let what = integer ? "an integer" : "a finite number"
        switch (lower, upper) {
        case let (l?, u?):
            if integer && !lowerOpen && !upperOpen { return "\(what) from \(text(l)) to \(text(u))" }
            return "\(what) in \(lowerOpen ? "(" : "[")\(text(l)), \(text(u))\(upperOpen ? ")" : "]")"
        case let (l?, nil): return "\(what) \(lowerOpen ? ">" : ">=") \(text(l))"
        case let (nil, u?): return "\(what) \(upperOpen ? "<" : "<=") \(text(u))"
        case (nil, nil): return what
        }
    }
}

/// A parameter problem: which keys, and what is wrong, in words that fit after
/// "--flag: " on the command line and after a JSON path in a pipeline file.
public struct ParamProblem: Error, Equatable, Sendable {
    /// The parameter keys involved (camelCase, as in pipeline files); empty for the whole set.
    public var keys: [String]
    public var message: String
    /// Where inside the first key's value, e.g. `[2]` for an item of a list.
    public var subpath: String

    public init(_ keys: [String], _ message: String, subpath: String = "") {
        self.keys = keys
        self.message = message
        self.subpath = subpath
    }

    public init(_ key: String, _ message: String) { self.init(key.isEmpty ? [] : [key], message) }
}

/// Everything known about one parameter, all of it from its one declaration in a stage's
/// parameter struct (`@Option("help", short: "k", in: .closed(1, 4096)) var factors = 4`).
public struct ParamSpec: @unchecked Sendable {
    /// The property name, which is also the pipeline key.
    public internal(set) var key: String = ""
    public let short: Character?
    public let help: String
    public let type: ParamType
    /// Whether the value may be absent (an optional option, nil by default).
    public let isOptional: Bool
    /// A Boolean flag (`--no-norm`); `inverted` ones default to true and take `--no-KEY`.
    public let isFlag: Bool
    public let inverted: Bool
    public let bounds: Bounds?
    public let defaultValue: JSONValue
    /// Reads the property's current value (the wrapper's `wrappedValue`).
    let encode: @Sendable (Any) -> JSONValue
    /// The range problem of the current value, if any.
    let checkValue: @Sendable (Any) -> String?
    /// The command-line words for a JSON value, or the message saying what was expected.
    let words: @Sendable (_ json: JSONValue, _ flag: String) -> Result<[String], ParamProblem>

    /// `--factors`
    public var flag: String { "--" + ParamSpec.kebab(key) }
    /// `-k/--factors`
    public var flags: String { (short.map { "-\($0)/" } ?? "") + flag }

    /// ArgumentParser's long name for a property: camelCase -> kebab-case.
    static func kebab(_ key: String) -> String {
        var out = ""
        for c in key {
            if c.isUppercase { out += "-" + c.lowercased() } else { out.append(c) }
        }
        return out
    }

    /// Text for `--help` and `ctr-pipeline kinds`: the help, then the range.
    public var fullHelp: String {
        guard let bounds else { return help }
        return help + " Allowed: \(bounds.describe(integer: type == .integer))."
    }
}

// MARK: - Recording the declarations

/// Collects the specs of the wrappers created while a parameter struct is built for
/// inspection (`StageParameters.specs`). Property initialisers run in declaration order,
/// and Mirror lists the properties in the same order, so the two line up.
final class SpecRecorder {
    var specs: [ParamSpec] = []
    private static let key = "SwiftCTR.StageKit.SpecRecorder"

    static var current: SpecRecorder? { Thread.current.threadDictionary[key] as? SpecRecorder }

    static func recording<T>(_ body: () -> T) -> (T, [ParamSpec]) {
        let recorder = SpecRecorder()
        Thread.current.threadDictionary[key] = recorder
        defer { Thread.current.threadDictionary[key] = nil }
        let value = body()
        return (value, recorder.specs)
    }

    private static let decodingKey = "SwiftCTR.StageKit.decoding"

    /// Whether `StageParameters.decode` is parsing on this thread.
    static var isDecoding: Bool { Thread.current.threadDictionary[decodingKey] != nil }

    static func decoding<T>(_ body: () throws -> T) rethrows -> T {
        Thread.current.threadDictionary[decodingKey] = true
        defer { Thread.current.threadDictionary[decodingKey] = nil }
        return try body()
    }

    static func record(_ spec: @autoclosure () -> ParamSpec) {
        current?.specs.append(spec())
    }
}

/// Read access to a wrapper's value, for encoding and range checks.
protocol ParameterStorage {
    var storedValue: Any { get }
}

extension Option: ParameterStorage {
    var storedValue: Any { wrappedValue }
}

extension Flag: ParameterStorage {
    var storedValue: Any { wrappedValue }
}

private func names(_ short: Character?) -> NameSpecification {
    short.map { [.customShort($0), .long] } ?? .long
}

private func problem(_ value: ParamProblem) -> Result<[String], ParamProblem> { .failure(value) }

private func mismatch(_ type: ParamType, _ json: JSONValue) -> ParamProblem {
    if case let .choice(values) = type, case let .string(s) = json {
        return ParamProblem([], "\"\(s)\" is not a valid choice; expected \(type)" + Suggest.hint(s, values))
    }
    return ParamProblem([], "expected \(type), found \(json.found)")
}

private func rangeProblem<V: ParameterValue>(_ value: V, _ bounds: Bounds?) -> String? {
    guard let bounds, let x = value.number, !bounds.contains(x) else { return nil }
    return "found \(value.argument); expected \(bounds.describe(integer: V.parameterType == .integer))"
}

// MARK: - Declaring parameters

extension Option where Value: ParameterValue {
    /// A stage parameter with a default: `@Option("Number of latent factors.", short: "k", in: .closed(1, 4096)) var factors = 4`.
    /// `value` names the value in `--help` (`--neg-keep-rate <W>`).
    /// Values are taken unconditionally, so `--valid -0.1` reads -0.1 and is then
    /// reported as out of range instead of as a missing value.
    public init(wrappedValue: Value, _ help: String, short: Character? = nil, in bounds: Bounds? = nil, value name: String? = nil) {
        let spec = ParamSpec(
            short: short, help: help, type: Value.parameterType, isOptional: false, isFlag: false, inverted: false,
            bounds: bounds, defaultValue: wrappedValue.json,
            encode: { ($0 as! Value).json },
            checkValue: { rangeProblem($0 as! Value, bounds) },
            words: { json, flag in
                guard let v = Value(json: json) else { return problem(mismatch(Value.parameterType, json)) }
                if let message = rangeProblem(v, bounds) { return problem(ParamProblem([], message)) }
                return .success([flag, v.argument])
            })
        SpecRecorder.record(spec)
        self.init(wrappedValue: wrappedValue, name: names(short), parsing: .unconditional,
                  help: ArgumentHelp(spec.fullHelp, valueName: name))
    }

}

extension Option {
    /// An optional stage parameter, absent by default: `@Option("Validation set.", short: "p") var validation: String?`.
    public init<T: ParameterValue>(_ help: String, short: Character? = nil, in bounds: Bounds? = nil, value name: String? = nil) where Value == T? {
        let spec = ParamSpec(
            short: short, help: help, type: T.parameterType, isOptional: true, isFlag: false, inverted: false,
            bounds: bounds, defaultValue: .null,
            encode: { ($0 as! T?)?.json ?? .null },
            checkValue: { ($0 as! T?).flatMap { rangeProblem($0, bounds) } },
            words: { json, flag in
                if case .null = json { return .success([]) }
                guard let v = T(json: json) else { return problem(mismatch(T.parameterType, json)) }
                if let message = rangeProblem(v, bounds) { return problem(ParamProblem([], message)) }
                return .success([flag, v.argument])
            })
        SpecRecorder.record(spec)
        self.init(wrappedValue: nil, name: names(short), parsing: .unconditional, help: ArgumentHelp(spec.fullHelp, valueName: name))
    }

    /// A list parameter: the option repeats on the command line (`--model-name a --model-name b`),
    /// a JSON array in pipeline files.
    public init<T: ParameterValue>(wrappedValue: [T], _ help: String, short: Character? = nil, value name: String? = nil) where Value == [T] {
        let spec = ParamSpec(
            short: short, help: help, type: .array(T.parameterType), isOptional: false, isFlag: false, inverted: false,
            bounds: nil, defaultValue: .array(wrappedValue.map(\.json)),
            encode: { .array(($0 as! [T]).map(\.json)) },
            checkValue: { _ in nil },
            words: { json, flag in
                guard case let .array(items) = json else { return problem(mismatch(.array(T.parameterType), json)) }
                var words: [String] = []
                for (i, item) in items.enumerated() {
                    guard let v = T(json: item) else {
                        var p = mismatch(T.parameterType, item)
                        p.subpath = "[\(i)]"
                        return problem(p)
                    }
                    words += [flag, v.argument]
                }
                return .success(words)
            })
        SpecRecorder.record(spec)
        self.init(wrappedValue: wrappedValue, name: names(short), parsing: .unconditionalSingleValue,
                  help: ArgumentHelp(spec.fullHelp, valueName: name))
    }
}

extension Flag where Value == Bool {
    /// A Boolean stage parameter. Default false: `--no-norm` turns it on. Default true:
    /// `--text` / `--no-text`.
    public init(wrappedValue: Bool, _ help: String, short: Character? = nil) {
        let spec = ParamSpec(
            short: short, help: help, type: .bool, isOptional: false, isFlag: true, inverted: wrappedValue,
            bounds: nil, defaultValue: .bool(wrappedValue),
            encode: { .bool($0 as! Bool) },
            checkValue: { _ in nil },
            words: { json, flag in
                guard case let .bool(b) = json else { return problem(mismatch(.bool, json)) }
                if wrappedValue { return .success(b ? [] : ["--no-" + flag.dropFirst(2)]) }
                return .success(b ? [flag] : [])
            })
        SpecRecorder.record(spec)
        if wrappedValue {
            self.init(wrappedValue: true, name: names(short), inversion: .prefixedNo, help: ArgumentHelp(help))
        } else {
            self.init(wrappedValue: false, name: names(short), help: ArgumentHelp(help))
        }
    }
}
