import Foundation
import Testing
@testable import Ingest

struct RowParserTests {
    let criteo = try! RowParser(schema: .criteo)

    @Test func criteoRowIsKeptAsIs() {
        let line = criteoLine(label: "0", ints: ["", "-3", "0", "17", "", "", "", "", "", "", "", "", "9223372036854775807"])
        guard case let .row(label, values) = parse(criteo, line) else { Issue.record("bad"); return }
        #expect(label == 0)
        #expect(values.count == 39)
        #expect(values[0] == "")
        #expect(values[1] == "-3")
        #expect(values[12] == "9223372036854775807")
        #expect(values[13] == "00001eef")
    }

    /// Categorical and integer columns without missing tokens or `required` go through loops of
    /// their own: values stay in output order, missing tokens and required columns are still
    /// checked, and the first bad column in file order is the one reported.
    @Test func plainAndCheckedColumnsMix() {
        let schema = Schema(name: "mix", delimiter: ",", header: .absent, columns: [
            SchemaColumn("a", .categorical), SchemaColumn("n", .integer), SchemaColumn("label", .label),
            SchemaColumn("b", .categorical, missing: ["NA"]), SchemaColumn("c", .categorical),
            SchemaColumn("r", .categorical, required: true), SchemaColumn("d", .categorical),
            SchemaColumn("m", .integer), SchemaColumn("k", .integer, missing: ["-1"]),
        ])
        let parser = try! RowParser(schema: schema)
        #expect(parse(parser, "x,007,1,NA,,must,z,+3,-1") == .row(label: 1, values: ["x", "7", "", "", "must", "z", "3", ""]))
        #expect(parse(parser, ",5,0,y,c,must,,,4") == .row(label: 0, values: ["", "5", "y", "c", "must", "", "", "4"]))
        #expect(parse(parser, "x,5,1,y,c,,z,1,1") == .bad(.missingValue, column: 5))
        #expect(parse(parser, "x,q,1,y,c,,z,1,1") == .bad(.badInteger, column: 1))
        #expect(parse(parser, "x,q,2,y,c,,z,1,1") == .bad(.badInteger, column: 1))
        #expect(parse(parser, "x,5,2,y,c,,z,1,1") == .bad(.badLabel, column: 2))
        // A bad plain integer after a bad checked column, after a non-canonical one, or both.
        #expect(parse(parser, "x,5,2,y,c,r,z,q,1") == .bad(.badLabel, column: 2))
        #expect(parse(parser, "x,+5,1,y,c,r,z,q,1") == .bad(.badInteger, column: 7))
        #expect(parse(parser, "x,5,1,y,c,,z,99999999999999999999,1") == .bad(.missingValue, column: 5))
        #expect(parse(parser, "x,5,1,y,c,r,z,99999999999999999999,1") == .bad(.integerOutOfRange, column: 7))
        #expect(parse(parser, "x,5,1,y,c,r,z,1,q") == .bad(.badInteger, column: 8))
        #expect(parse(parser, "x\r,5,1,y,c,r,z,1,1") == .bad(.unrepresentableValue, column: 0))
    }

    @Test func integersAreCanonical() {
        let line = criteoLine(ints: ["+7", "007", "-0", "-05", "0", "-9223372036854775808", "", "", "", "", "", "", ""])
        guard case let .row(_, values) = parse(criteo, line) else { Issue.record("bad"); return }
        #expect(Array(values[0..<6]) == ["7", "7", "0", "-5", "0", "-9223372036854775808"])
    }

    @Test func numbersAreExposed() {
        var text = criteoLine(ints: ["5", "", "-2", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1"])
        text.withUTF8 { bytes in
            guard case let .row(row) = criteo.parse(bytes) else { Issue.record("bad"); return }
            #expect(row.numbers[0] == 5)
            #expect(row.numbers[1].isNaN)
            #expect(row.integers[2] == -2)
            #expect(row.numbers[13].isNaN)
        }
    }

    struct BadLine: CustomStringConvertible, Sendable {
        let name: String
        let line: String
        let expected: Parsed
        let message: String
        var description: String { name }
    }

    static let badLines: [BadLine] = [
        BadLine(name: "empty line", line: "", expected: .bad(.emptyLine, column: -1),
                message: "empty line; expected 40 fields separated by tab"),
        BadLine(name: "39 fields", line: criteoLine(cats: (1...25).map(String.init)), expected: .bad(.columnCount, column: -1),
                message: "found 39 fields; expected 40 separated by tab"),
        BadLine(name: "41 fields", line: criteoLine() + "\tx", expected: .bad(.columnCount, column: -1),
                message: "found 41 fields; expected 40 separated by tab"),
        BadLine(name: "label 2", line: criteoLine(label: "2"), expected: .bad(.badLabel, column: 0),
                message: "column 1 (label): found \"2\"; expected 0 or 1"),
        BadLine(name: "empty label", line: criteoLine(label: ""), expected: .bad(.badLabel, column: 0),
                message: "column 1 (label): found \"\"; expected 0 or 1"),
        BadLine(name: "non-numeric integer", line: criteoLine(ints: ["1", "abc"] + Array(repeating: "", count: 11)),
                expected: .bad(.badInteger, column: 2), message: "column 3 (I2): found \"abc\"; expected a whole number"),
        BadLine(name: "decimal in integer", line: criteoLine(ints: ["1.5"] + Array(repeating: "", count: 12)),
                expected: .bad(.badInteger, column: 1), message: "column 2 (I1): found \"1.5\"; expected a whole number"),
        BadLine(name: "out-of-range integer", line: criteoLine(ints: ["9223372036854775808"] + Array(repeating: "", count: 12)),
                expected: .bad(.integerOutOfRange, column: 1),
                message: "column 2 (I1): found \"9223372036854775808\"; expected a whole number in the 64-bit range"),
        BadLine(name: "negative out-of-range integer", line: criteoLine(ints: Array(repeating: "", count: 12) + ["-99999999999999999999"]),
                expected: .bad(.integerOutOfRange, column: 13),
                message: "column 14 (I13): found \"-99999999999999999999\"; expected a whole number in the 64-bit range"),
        BadLine(name: "carriage return in a value", line: criteoLine(cats: Array(repeating: "a", count: 25) + ["b\r"]),
                expected: .bad(.unrepresentableValue, column: 39),
                message: "column 40 (C26): found \"b\\r\", which holds a tab, carriage return or newline; the rows format cannot hold it"),
    ]

    @Test(arguments: badLines)
    func badRowReason(_ c: BadLine) {
        #expect(parse(criteo, c.line) == c.expected)
        #expect(message(criteo, c.line) == c.message)
    }

    @Test func floatsMustBeFinite() throws {
        let schema = Schema(name: "f", delimiter: ",", header: .absent,
                            columns: [SchemaColumn("y", .label), SchemaColumn("x", .float)])
        let parser = try RowParser(schema: schema)
        #expect(parse(parser, "1,2.5") == .row(label: 1, values: ["2.5"]))
        #expect(parse(parser, "1,-1e-3") == .row(label: 1, values: ["-1e-3"]))
        #expect(parse(parser, "1,") == .row(label: 1, values: [""]))
        #expect(parse(parser, "1,inf") == .bad(.floatNotFinite, column: 1))
        #expect(parse(parser, "1,nan") == .bad(.floatNotFinite, column: 1))
        #expect(parse(parser, "1,1e999") == .bad(.floatNotFinite, column: 1))
        #expect(parse(parser, "1,2.5x") == .bad(.badFloat, column: 1))
        #expect(parse(parser, "1, 2") == .bad(.badFloat, column: 1))
    }

    @Test func tabInsideACSVValueIsQuarantined() throws {
        let parser = try RowParser(schema: .avazu)
        let fields = ["1000009418151094273", "0", "14102100", "1005", "0", "1fbe01fe", "f3845767", "28905ebd", "ecad2386",
                      "7801e8d9", "07d7df22", "a99f214a", "ddd2926e", "44956a24", "1", "2", "15706", "320", "50", "1722", "0", "35", "-1", "79"]
        #expect(parse(parser, fields.joined(separator: ",")) == .row(label: 0, values: ["0", "tue"] + fields[3...]))
        var tabbed = fields
        tabbed[5] = "1fbe\t01fe"
        #expect(parse(parser, tabbed.joined(separator: ",")) == .bad(.unrepresentableValue, column: 5))
        var ignoredTab = fields
        ignoredTab[0] = "10\t00"  // in the ignored id column: harmless
        #expect(parse(parser, ignoredTab.joined(separator: ",")) == .row(label: 0, values: ["0", "tue"] + fields[3...]))
    }

    @Test func avazuTimestamps() throws {
        let parser = try RowParser(schema: .avazu)
        func hour(_ h: String) -> Parsed {
            parse(parser, (["1", "1", h] + Array(repeating: "a", count: 21)).joined(separator: ","))
        }
        #expect(hour("14102100") == .row(label: 1, values: ["0", "tue"] + Array(repeating: "a", count: 21)))
        #expect(hour("14103023") == .row(label: 1, values: ["23", "thu"] + Array(repeating: "a", count: 21)))
        #expect(hour("16022912") == .row(label: 1, values: ["12", "mon"] + Array(repeating: "a", count: 21)))
        #expect(hour("00010100") == .row(label: 1, values: ["0", "sat"] + Array(repeating: "a", count: 21)))
        #expect(hour("15022912") == .bad(.badTimestamp, column: 2))
        #expect(hour("14102124") == .bad(.badTimestamp, column: 2))
        #expect(hour("14132100") == .bad(.badTimestamp, column: 2))
        #expect(hour("1410210") == .bad(.badTimestamp, column: 2))
        #expect(hour("1410210x") == .bad(.badTimestamp, column: 2))
    }

    @Test func headerDetection() throws {
        let avazu = try RowParser(schema: .avazu)
        let header = Schema.avazu.columns.map(\.name).joined(separator: ",")
        #expect(isHeader(avazu, header))
        #expect(isHeader(avazu, "\u{FEFF}" + header.uppercased()))
        #expect(!isHeader(avazu, header.replacingOccurrences(of: "click", with: "clicked")))
        let kaggle = try RowParser(schema: .criteoKaggleCSV)
        #expect(isHeader(kaggle, "Id,Label," + (1...13).map { "I\($0)" }.joined(separator: ",") + "," + (1...26).map { "C\($0)" }.joined(separator: ",")))
        #expect(!isHeader(kaggle, "10000083," + criteoLine(label: "0", separator: ",")))
    }

    @Test func kaggleCSVIgnoresTheId() throws {
        let parser = try RowParser(schema: .criteoKaggleCSV)
        let line = "10000083," + criteoLine(label: "0", separator: ",")
        guard case let .row(label, values) = parse(parser, line) else { Issue.record("bad"); return }
        #expect(label == 0)
        #expect(values.count == 39)
        #expect(values[0] == "1")
    }

    @Test func labelModes() throws {
        let absent = try RowParser(schema: .criteo, labelMode: .absent)
        let unlabelled = Array(criteoLine().split(separator: "\t", omittingEmptySubsequences: false).dropFirst()).joined(separator: "\t")
        guard case let .row(label, values) = parse(absent, unlabelled) else { Issue.record("bad"); return }
        #expect(label == nil)
        #expect(values[0] == "1")
        #expect(parse(absent, criteoLine()) == .bad(.columnCount, column: -1))
        let optional = try RowParser(schema: .criteo, labelMode: .optional)
        #expect(parse(optional, unlabelled) == .row(label: nil, values: values))
        #expect(parse(optional, criteoLine(label: "1")) == .row(label: 1, values: values))
        #expect(parse(criteo, unlabelled) == .bad(.columnCount, column: -1))
    }

    @Test func quotedCSV() throws {
        let schema = Schema(name: "q", delimiter: ",", header: .absent, quoting: true,
                            columns: [SchemaColumn("y", .label), SchemaColumn("a", .categorical), SchemaColumn("n", .integer)])
        let parser = try RowParser(schema: schema)
        #expect(parse(parser, #"1,"a,b",5"#) == .row(label: 1, values: ["a,b", "5"]))
        #expect(parse(parser, #""0","say ""hi""","+5""#) == .row(label: 0, values: [#"say "hi""#, "5"]))
        #expect(parse(parser, #"1,"",5"#) == .row(label: 1, values: ["", "5"]))
        #expect(parse(parser, #"1,"a"#) == .bad(.badQuoting, column: 1))
        #expect(parse(parser, #"1,"a"b,5"#) == .bad(.badQuoting, column: 1))
        #expect(parse(parser, "1,\"a\tb\",5") == .bad(.unrepresentableValue, column: 1))
        #expect(parse(parser, #"1,"a",5,"#) == .bad(.columnCount, column: -1))
    }

    /// The parser reuses its memory: many rows of growing length parse correctly in a row.
    @Test func longLinesGrowScratch() throws {
        let parser = try RowParser(schema: .criteo)
        for n in [1, 100, 10_000, 200_000, 5] {
            let big = String(repeating: "z", count: n)
            let line = criteoLine(ints: ["007"] + Array(repeating: "", count: 12), cats: [big] + Array(repeating: "", count: 25))
            #expect(parse(parser, line) == .row(label: 1, values: ["7"] + Array(repeating: "", count: 12) + [big] + Array(repeating: "", count: 25)))
        }
    }
}
