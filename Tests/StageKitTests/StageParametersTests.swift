import ArgumentParser
import Testing
@testable import StageKit

enum Shape: String, CaseIterable, Sendable, ParameterChoice {
    case round, square
}

/// A parameter struct with one of each kind of declaration.
struct Sample: StageParameters {
    @Option("Latent factors.", short: "k", in: .closed(1, 64))
    var factors = 4

    @Option("A fraction.", in: .halfOpen(0, 1))
    var valid = 0.1

    @Option("A rate.", in: .openClosed(0, 1))
    var rate: Double?

    @Option("Seed.")
    var seed: UInt64 = 1

    @Option("Shape.")
    var shape = Shape.round

    @Option("Names.")
    var names: [String] = []

    @Option("A path.", short: "p")
    var path: String?

    @Flag("Turn it off.")
    var noNorm = false

    @Flag("Write text.")
    var text = true

    init() {}

    func check() -> [ParamProblem] {
        factors > 32 && noNorm ? [ParamProblem(["factors", "noNorm"], "more than 32 factors need normalisation")] : []
    }
}

struct StageParametersTests {
    @Test func specsComeFromTheDeclarations() {
        let specs = Sample.specs
        #expect(specs.map(\.key) == ["factors", "valid", "rate", "seed", "shape", "names", "path", "noNorm", "text"])
        #expect(specs[0].flags == "-k/--factors")
        #expect(specs[0].type == .integer)
        #expect(specs[0].defaultValue == .int(4))
        #expect(specs[2].isOptional && specs[2].defaultValue == .null)
        #expect(specs[4].type == .choice(["round", "square"]))
        #expect(specs[5].type == .array(.string))
        #expect(specs[7].flag == "--no-norm" && specs[7].isFlag && !specs[7].inverted)
        #expect(specs[8].inverted)
    }

    @Test func defaultsAndEncoding() {
        let d = Sample.defaults
        #expect(d.factors == 4 && d.valid == 0.1 && d.rate == nil && d.text && !d.noNorm)
        #expect(d.encoded() == .object([("factors", .int(4)), ("valid", .double(0.1)), ("seed", .int(1)), ("shape", .string("round")),
                                        ("names", .array([])), ("noNorm", .bool(false)), ("text", .bool(true))]))
        var e = d
        e.factors = 8
        #expect(e != d)
        e.factors = 4
        #expect(e == d)
    }

    @Test func decodesJSONWithDefaultsForMissingKeys() throws {
        let json: JSONValue = .object([("factors", .int(8)), ("rate", .double(0.5)), ("shape", .string("square")),
                                       ("names", .array([.string("a"), .string("-b")])), ("noNorm", .bool(true)),
                                       ("text", .bool(false)), ("valid", .int(0)), ("seed", .int(123_456_789_012))])
        let p = try Sample.decode(json).get()
        #expect(p.factors == 8 && p.rate == 0.5 && p.shape == .square && p.names == ["a", "-b"] && p.noNorm && !p.text)
        #expect(p.valid == 0 && p.seed == 123_456_789_012 && p.path == nil)
        // Round trip.
        #expect(try Sample.decode(p.encoded()).get() == p)
    }

    @Test func jsonProblemsAreKeyed() {
        let json: JSONValue = .object([("factors", .string("8")), ("valid", .double(-0.1)), ("shape", .string("sqare")),
                                       ("fators", .int(2)), ("names", .array([.int(1)]))])
        guard case let .failure(errors) = Sample.decode(json) else { Issue.record("decoded"); return }
        let byKey = Dictionary(errors.problems.map { ($0.keys.first ?? "", $0.message) }, uniquingKeysWith: { a, _ in a })
        #expect(errors.problems.first { $0.keys == ["names"] }?.subpath == "[0]")
        #expect(byKey["factors"] == "expected an integer, found a string (\"8\")")
        #expect(byKey["valid"] == "found -0.1; expected a finite number in [0, 1)")
        #expect(byKey["shape"] == "\"sqare\" is not a valid choice; expected one of \"round\", \"square\" (did you mean \"square\"?)")
        #expect(byKey["fators"]?.hasPrefix("unknown parameter \"fators\" (did you mean \"factors\"?)") == true)
        #expect(byKey["names"] == "expected a string, found an integer (1)")
    }

    @Test func crossChecksRunAfterDecoding() {
        guard case let .failure(errors) = Sample.decode(.object([("factors", .int(40)), ("noNorm", .bool(true))])) else {
            Issue.record("decoded"); return
        }
        #expect(errors.problems == [ParamProblem(["factors", "noNorm"], "more than 32 factors need normalisation")])
        #expect(Sample.commandLineMessage(errors.problems[0]) == "-k/--factors/--no-norm: more than 32 factors need normalisation")
    }

    @Test func commandLineTakesNegativeNumbersAndReportsTheRange() throws {
        let expected = ["-k/--factors: found -3; expected an integer from 1 to 64",
                        "--valid: found -0.1; expected a finite number in [0, 1)",
                        "--rate: found nan; expected a finite number in (0, 1]"]
        do {
            _ = try Sample.parse(["--valid", "-0.1", "-k", "-3", "--rate", "nan"])
            Issue.record("out-of-range values parsed")
        } catch {
            #expect(Sample.message(for: error) == expected.joined(separator: "\n"))
        }
        var p = Sample.defaults
        p.valid = -0.1
        p.factors = -3
        p.rate = .nan
        #expect(p.problems().map(Sample.commandLineMessage) == expected)
        #expect(throws: ParameterError.self) { try p.validated() }
        #expect((try? p.validated()) == nil)
        // A cross check names every flag involved.
        p = Sample.defaults
        p.factors = 40
        p.noNorm = true
        #expect(throws: ParameterError.self) { try p.validated() }
    }

    @Test func flagsAndListsOnTheCommandLine() throws {
        let p = try Sample.parse(["--no-text", "--no-norm", "--names", "x", "--names", "y", "--shape", "square", "-p", "f"])
        #expect(!p.text && p.noNorm && p.names == ["x", "y"] && p.shape == .square && p.path == "f")
        #expect(Sample.helpMessage().contains("Allowed: a finite number in [0, 1)."))
        #expect(Sample.helpMessage().contains("round, square") || Sample.helpMessage().contains("round|square"))
    }
}
