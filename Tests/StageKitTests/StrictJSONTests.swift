import Foundation
import Testing
@testable import StageKit

/// The JSON parser's nesting limit, and the strict reader (parser + decoder) that every
/// JSON file a person writes goes through.
@Suite struct StrictJSONTests {
    static func syntaxError(_ text: String) -> JSONParser.SyntaxError? {
        var parser = JSONParser(text)
        do { _ = try parser.parse() } catch let e as JSONParser.SyntaxError { return e } catch { return nil }
        return nil
    }

    @Test func deepNestingIsRefusedWithItsPosition() throws {
        // 40,000 '[' overflowed the stack (SIGSEGV) before the limit.
        let error = try #require(Self.syntaxError(String(repeating: "[", count: 40_000)))
        #expect(error.position == SourcePosition(line: 1, column: JSONParser.maxDepth + 1))
        #expect(error.message == "arrays and objects nested more than 256 levels deep; expected at most 256")
        let objects = String(repeating: #"{"a": "#, count: 300)
        #expect(Self.syntaxError(objects)?.position == SourcePosition(line: 1, column: 6 * 256 + 1))
        #expect(Self.syntaxError("\n" + String(repeating: "[{\"k\":", count: 200))?.message.hasPrefix("arrays and objects nested") == true)
    }

    @Test func theDeepestAcceptedValueRoundTrips() throws {
        let depth = JSONParser.maxDepth
        let text = String(repeating: "[", count: depth - 1) + #"{"x": 1}"# + String(repeating: "]", count: depth - 1)
        var parser = JSONParser(text)
        let value = try parser.parse()
        // text(), ==, and the parser again: no recursion limit is hit on accepted input.
        #expect(value.text() == text.replacingOccurrences(of: " ", with: ""))
        var again = JSONParser(value.text(pretty: true, sortedKeys: true))
        #expect(try again.parse() == value)
        #expect(value != .array([]))
        let decoded = try StrictJSONDocument(bytes: Array(text.utf8)).decode(JSONValue.self)
        #expect(decoded == value)
        #expect(Self.syntaxError("[" + text + "]") != nil)
    }

    struct Config: Decodable, Equatable {
        enum Mode: String, Decodable, CaseIterable { case hash, scaled, buckets }
        struct Field: Decodable, Equatable {
            var bins: Int?
            var mode: Mode?
            var boundaries: [Double]?
        }
        var name: String
        var seed: UInt64
        var on: Bool
        var fields: [String: Field]
        var list: [Int] = []

        enum CodingKeys: String, CodingKey { case name, seed, on, fields, list }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            seed = try c.decode(UInt64.self, forKey: .seed)
            on = try c.decode(Bool.self, forKey: .on)
            fields = try c.decode([String: Field].self, forKey: .fields)
            list = try c.decodeIfPresent([Int].self, forKey: .list) ?? []
        }
    }

    static func problem(_ text: String) -> JSONInputProblem? {
        do {
            _ = try StrictJSONDocument(bytes: Array(text.utf8)).decode(Config.self)
            return nil
        } catch let p as JSONInputProblem {
            return p
        } catch {
            return JSONInputProblem(jsonPath: "?", position: nil, message: "\(error)")
        }
    }

    @Test func decodesWhatAPersonWrites() throws {
        let text = """
        {"name": "n", "seed": 7, "on": true, "list": [1, 2],
         "fields": {"I1": {"bins": 100, "mode": "buckets", "boundaries": [0, 1.5, 10]}, "C3": {"bins": null}}}
        """
        let config = try StrictJSONDocument(bytes: Array(text.utf8)).decode(Config.self)
        #expect(config.name == "n" && config.seed == 7 && config.on && config.list == [1, 2])
        #expect(config.fields["I1"] == Config.Field(bins: 100, mode: .buckets, boundaries: [0, 1.5, 10]))
        #expect(config.fields["C3"] == Config.Field())
    }

    @Test func everyProblemHasItsPathPositionAndWhatWasFound() {
        let base = #"{"name": "n", "seed": 7, "on": true, "fields": "#
        let cases: [(String, String)] = [
            (base + #"{"X": {"bins": 1.5}}}"#, "1:63: fields.X.bins: found a number (1.5); expected an integer"),
            (base + #"{"X": {"bins": "4"}}}"#, "1:63: fields.X.bins: found a string (\"4\"); expected an integer"),
            (base + #"{"X": {"mode": "sqrt"}}}"#, "1:63: fields.X.mode: found \"sqrt\"; expected one of \"hash\", \"scaled\", \"buckets\""),
            (base + #"{"X": {"mode": "scaeld"}}}"#, "1:63: fields.X.mode: found \"scaeld\"; expected one of \"hash\", \"scaled\", \"buckets\" (did you mean \"scaled\"?)"),
            (base + #"{"X": {"mode": 3}}}"#, "1:63: fields.X.mode: found an integer (3); expected one of \"hash\", \"scaled\", \"buckets\""),
            (base + #"{"X": {"boundaries": [1, "a"]}}}"#, "1:73: fields.X.boundaries[1]: found a string (\"a\"); expected a number"),
            (base + #"{"X": []}}"#, "1:54: fields.X: found an array; expected an object"),
            (base + #"{}, "list": [1, -2, 3.0]}"#, "1:68: list[2]: found a number (3.0); expected an integer"),
            (#"{"name": "n", "seed": -1, "on": true, "fields": {}}"#, "1:23: seed: found -1; expected an integer in 0…18446744073709551615"),
            (#"{"name": "n", "seed": 1, "on": null, "fields": {}}"#, "1:32: on: found null; expected true or false"),
            (#"{"name": "n", "on": true, "fields": {}}"#, "1:1: seed: is missing; expected a value for \"seed\""),
            ("[1]", "1:1: found an array; expected an object"),
            // Syntax: duplicate keys and trailing commas are refused, with their position.
            (#"{"name": "n", "name": "m"}"#, "1:15: invalid JSON: duplicate key \"name\" in the top-level object"),
            ("{\"name\": \"n\",\n}", "2:1: invalid JSON: trailing comma before '}'"),
            (#"{"a": [1, 2,]}"#, "1:13: invalid JSON: trailing comma before ']'"),
            ("", "1:1: invalid JSON: unexpected end of the file; expected a value"),
        ]
        for (text, expected) in cases {
            #expect(Self.problem(text)?.description == expected, "\(text)")
        }
        #expect(Self.problem(#"{"a": 1,}"#)?.isSyntax == true)
        #expect(Self.problem(#"{"name": 1, "seed": 1, "on": true, "fields": {}}"#)?.isSyntax == false)
    }

    @Test func integersBeyondInt64KeepTheirExactValueForUInt64() throws {
        struct S: Decodable { var seed: UInt64; var small: Int? }
        let text = "{\n  \"seed\": 18446744073709551615, \"small\": 18446744073709551615\n}"
        let document = try StrictJSONDocument(bytes: Array(text.utf8))
        do {
            _ = try document.decode(S.self)
            Issue.record("expected an error")
        } catch let problem as JSONInputProblem {
            #expect(problem.description == "2:42: small: found 18446744073709551615; expected an integer in \(Int.min)…\(Int.max)")
        }
        let exact = try StrictJSONDocument(bytes: Array(#"{"seed": 18446744073709551615}"#.utf8)).decode(S.self)
        #expect(exact.seed == UInt64.max)
        #expect(document.position(of: "seed.deeper[3]") == SourcePosition(line: 2, column: 11))
        #expect(document.position(of: "$") == SourcePosition(line: 1, column: 1))
    }
}
