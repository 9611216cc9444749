import ArgumentParser
import Foundation

/// A stage's parameters: one struct whose properties are each declared once, as
/// `@Option("help", short:, in:)` or `@Flag("help")` (see `Parameter.swift`). From those
/// declarations come the command-line options (the struct is an `@OptionGroup` of the
/// stage's executable), decoding from pipeline JSON with defaults for missing keys,
/// range checks keyed by parameter, encoding for fingerprints and manifests, and the
/// JSON Schema.
///
/// Make values with `.defaults` (not `init()`, which ArgumentParser reserves for reading
/// the declarations), then set properties as usual.
public protocol StageParameters: ParsableArguments, Equatable, Sendable {
    /// Checks that involve several parameters (ranges are checked from the declarations).
    func check() -> [ParamProblem]
}

extension StageParameters {
    public func check() -> [ParamProblem] { [] }

    /// Every parameter in declaration order.
    public static var specs: [ParamSpec] { SpecCache.specs(Self.self) }

    public static func spec(_ key: String) -> ParamSpec? { specs.first { $0.key == key } }

    /// The parameters with their declared defaults.
    public static var defaults: Self {
        do { return try parse([]) } catch { preconditionFailure("\(Self.self): the defaults do not parse: \(error)") }
    }

    /// The stored values in declaration order, paired with their specs.
    private var values: [(spec: ParamSpec, value: Any)] {
        let stored = Mirror(reflecting: self).children.compactMap { $0.value as? ParameterStorage }
        return zip(Self.specs, stored).map { ($0, $1.storedValue) }
    }

    /// Every parameter as JSON (absent optionals left out), keys in declaration order.
    public func encoded() -> JSONValue {
        .object(values.compactMap { entry in
            let json = entry.spec.encode(entry.value)
            return json == .null ? nil : (entry.spec.key, json)
        })
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.encoded() == rhs.encoded() }

    /// The command-line words that give these values to the stage's executable, every
    /// parameter spelled out (`--factors 8 --no-norm …`; absent optionals left out):
    /// `parse(commandLineArguments())` gives these values back. ctr-pipeline starts a stage
    /// with them when it runs the stage's tool as a subprocess (MPI stages).
    public func commandLineArguments() -> [String] {
        values.flatMap { entry -> [String] in
            let json = entry.spec.encode(entry.value)
            if case .null = json { return [] }
            // The value came out of these very declarations, so it converts back.
            guard case let .success(words) = entry.spec.words(json, entry.spec.flag) else { return [] }
            return words
        }
    }

    /// Out-of-range values and `check()`'s problems.
    public func problems() -> [ParamProblem] {
        var result: [ParamProblem] = []
        for (spec, value) in values {
            if let message = spec.checkValue(value) { result.append(ParamProblem(spec.key, message)) }
        }
        return result + check()
    }

    /// ArgumentParser's check after parsing (the command line, and `@OptionGroup`s): every
    /// problem, each naming its flag. Skipped while `decode(_:)` parses, which reports the
    /// same problems keyed by parameter.
    public mutating func validate() throws {
        guard !SpecRecorder.isDecoding else { return }
        let found = problems()
        if !found.isEmpty { throw ValidationError(found.map(Self.commandLineMessage).joined(separator: "\n")) }
    }

    /// Throws `ParameterError` when `problems()` (or the given problems) has any: for
    /// library callers (the command line and the pipeline report problems before a stage runs).
    public func validated(_ problems: [ParamProblem]? = nil) throws {
        let found = problems ?? self.problems()
        if !found.isEmpty { throw ParameterError(problems: found, render: { Self.keyMessage($0) }) }
    }

    /// `--factors: found 0; expected an integer from 1 to 4096`
    public static func commandLineMessage(_ problem: ParamProblem) -> String {
        let flags = problem.keys.map { spec($0)?.flags ?? $0 }.joined(separator: "/")
        return flags.isEmpty ? problem.message : flags + problem.subpath + ": " + problem.message
    }

    /// `factors: found 0; …`, for library callers.
    static func keyMessage(_ problem: ParamProblem) -> String {
        problem.keys.isEmpty ? problem.message : problem.keys.joined(separator: "/") + problem.subpath + ": " + problem.message
    }

    /// Decodes pipeline JSON (`key: value` entries; missing keys and nulls keep their defaults).
    /// Every bad entry is reported, keyed; then `problems()` of the whole.
    public static func decode(_ entries: [(key: String, value: JSONValue)]) -> Result<Self, ParamErrors> {
        var words: [String] = []
        var found: [ParamProblem] = []
        let keys = specs.map(\.key)
        for (key, value) in entries {
            guard let spec = spec(key) else {
                var message = "unknown parameter \"\(key)\"" + Suggest.hint(key, keys)
                if Suggest.closest(to: key, among: keys) == nil { message += "; the parameters are: " + keys.joined(separator: ", ") }
                found.append(ParamProblem(key, message))
                continue
            }
            if case .null = value { continue }
            switch spec.words(value, spec.flag) {
            case let .success(w): words += w
            case let .failure(p): found.append(ParamProblem([key], p.message, subpath: p.subpath))
            }
        }
        guard found.isEmpty else { return .failure(ParamErrors(problems: found)) }
        let params: Self
        do {
            params = try SpecRecorder.decoding { try parse(words) }
        } catch {
            return .failure(ParamErrors(problems: [ParamProblem([], message(for: error))]))
        }
        let problems = params.problems()
        return problems.isEmpty ? .success(params) : .failure(ParamErrors(problems: problems))
    }

    /// Decodes a JSON object of parameters (see `decode(_:)`).
    public static func decode(_ json: JSONValue) -> Result<Self, ParamErrors> {
        guard let entries = json.objectEntries else {
            return .failure(ParamErrors(problems: [ParamProblem([], "expected an object of parameters, found \(json.found)")]))
        }
        return decode(entries)
    }
}

/// Problems found while decoding parameters.
public struct ParamErrors: Error, Sendable {
    public var problems: [ParamProblem]

    public init(problems: [ParamProblem]) { self.problems = problems }
}

/// Parameters a library caller passed that are out of range or inconsistent.
public struct ParameterError: Error, CustomStringConvertible, @unchecked Sendable {
    public let problems: [ParamProblem]
    let render: (ParamProblem) -> String
    public var description: String { problems.map(render).joined(separator: "\n") }
}

/// Specs per parameter type, read once.
enum SpecCache {
    nonisolated(unsafe) private static var cache: [ObjectIdentifier: [ParamSpec]] = [:]
    private static let lock = NSLock()

    static func specs<P: StageParameters>(_ type: P.Type) -> [ParamSpec] {
        lock.lock()
        defer { lock.unlock() }
        if let cached = cache[ObjectIdentifier(type)] { return cached }
        let (blank, recorded) = SpecRecorder.recording { P() }
        let labels = Mirror(reflecting: blank).children.compactMap { child -> String? in
            guard child.value is ParameterStorage, let label = child.label else { return nil }
            return label.hasPrefix("_") ? String(label.dropFirst()) : label
        }
        precondition(labels.count == recorded.count,
                     "\(P.self): every @Option and @Flag must be declared with a help text first (@Option(\"…\")); "
                     + "found \(labels.count) options and \(recorded.count) declarations")
        var specs = recorded
        for i in specs.indices { specs[i].key = labels[i] }
        cache[ObjectIdentifier(type)] = specs
        return specs
    }
}
