import Foundation
import Testing
@testable import Ingest

struct SchemaTests {
    @Test func presetsResolve() throws {
        for name in Schema.presetNames {
            let schema = try Schema.resolve(name)
            #expect(schema.name == name)
            try schema.validate()
        }
        #expect(Schema.criteo.columns.count == 40)
        #expect(Schema.criteo1TB.columns.count == 40)
        #expect(Schema.criteoKaggleCSV.columns.count == 41)
        #expect(Schema.avazu.columns.count == 24)
    }

    @Test func presetOutputColumns() throws {
        let criteo = try RowParser(schema: .criteo)
        #expect(criteo.outputColumns.count == 39)
        #expect(criteo.outputColumns[0] == OutputColumn(name: "I1", type: .integer))
        #expect(criteo.outputColumns[13] == OutputColumn(name: "C1", type: .categorical))
        let kaggle = try RowParser(schema: .criteoKaggleCSV)
        #expect(kaggle.outputColumns == criteo.outputColumns)
        let avazu = try RowParser(schema: .avazu)
        // id and click leave, hour becomes two columns: 24 - 2 - 1 + 2.
        #expect(avazu.outputColumns.count == 23)
        #expect(avazu.outputColumns[0] == OutputColumn(name: "hour_of_day", type: .categorical))
        #expect(avazu.outputColumns[1] == OutputColumn(name: "day_of_week", type: .categorical))
        #expect(avazu.outputColumns[2].name == "C1")
        #expect(avazu.outputColumns.allSatisfy { $0.type == .categorical })
    }

    @Test func unknownPresetNamesTheChoices() {
        #expect(throws: SchemaError.unknownPreset(name: "critter", known: Schema.presetNames)) {
            try Schema.resolve("critter")
        }
    }

    @Test func customSchemaRoundTrips() throws {
        let json = """
        {"version": 1, "name": "shop", "delimiter": "|", "header": "present", "missing": ["NA"],
         "columns": [{"name": "y", "type": "label"}, {"name": "price", "type": "float", "missing": ["-1"]},
                     {"name": "when", "type": "yymmddhh"}, {"name": "n", "type": "integer"},
                     {"name": "junk", "type": "ignore"}, {"name": "shop", "type": "categorical"}]}
        """
        let schema = try Schema.decode(Data(json.utf8), source: "shop.json")
        #expect(schema.delimiter == "|")
        #expect(schema.header == .present)
        #expect(schema.missing == ["NA"])
        let parser = try RowParser(schema: schema)
        #expect(parser.outputColumns.map(\.name) == ["price", "when_hour_of_day", "when_day_of_week", "n", "shop"])
        #expect(try Schema.decode(schema.jsonData()) == schema)
        // Per-column tokens replace the schema's: -1 is missing for price, NA for n and shop.
        // 2014-10-21 was a Tuesday.
        #expect(parse(parser, "1|-1|14102113|NA|x|NA") == .row(label: 1, values: ["", "13", "tue", "", ""]))
        #expect(parse(parser, "0|NA|14102113|5|x|a") == .bad(.badFloat, column: 1))
    }

    @Test func defaultsAndTabName() throws {
        let schema = try Schema.decode(Data(#"{"delimiter": "tab", "columns": [{"name": "l", "type": "label"}, {"name": "a", "type": "categorical"}]}"#.utf8))
        #expect(schema.delimiter == "\t")
        #expect(schema.header == .absent)
        #expect(schema.quoting == false)
        #expect(schema.name == "custom")
    }

    struct BadCase: CustomStringConvertible, Sendable {
        let json: String
        let expected: String
        var description: String { expected }
    }

    static let badSchemas: [BadCase] = [
        BadCase(json: #"{"delimiter": ",", "columns": [{"name": "l", "type": "label"}, {"name": "a", "type": "text"}]}"#,
                expected: #"s.json:1:86: columns[1].type found "text"; expected one of "label", "categorical", "integer", "float", "ignore", "target", "yymmddhh""#),
        BadCase(json: #"{"delimiter": ",", "columns": [{"name": "l", "type": "label"}, {"name": "a", "typ": "integer"}]}"#,
                expected: #"s.json:1:85: columns[1].typ is not a known column key; did you mean "type"? (known: name, type, missing, required, derived_names)"#),
        BadCase(json: #"{"delimeter": ",", "columns": []}"#,
                expected: #"s.json:1:15: delimeter is not a known schema key; did you mean "delimiter"? (known: version, name, delimiter, header, quoting, missing, columns)"#),
        BadCase(json: #"{"columns": [{"name": "l", "type": "label"}]}"#,
                expected: #"s.json:1:1: delimiter is missing; expected a value for "delimiter""#),
        BadCase(json: #"{"delimiter": ",;", "columns": [{"name": "l", "type": "label"}, {"name": "a", "type": "integer"}]}"#,
                expected: #"s.json:1:15: delimiter found ",;"; expected exactly one byte such as "\t" or ",""#),
        BadCase(json: #"{"delimiter": ",", "columns": [{"name": "a", "type": "integer"}]}"#,
                expected: #"s.json:1:31: columns has no column of type "label"; expected exactly one (the 0/1 click column, or a "target" column for regression)"#),
        BadCase(json: #"{"delimiter": ",", "columns": [{"name": "l", "type": "label"}, {"name": "l2", "type": "label"}, {"name": "a", "type": "integer"}]}"#,
                expected: #"s.json:1:31: columns has 2 columns of type "label" or "target" (l, l2); expected exactly one"#),
        BadCase(json: #"{"delimiter": ",", "columns": [{"name": "l", "type": "label"}, {"name": "a", "type": "integer"}, {"name": "a", "type": "float"}]}"#,
                expected: #"s.json:1:107: columns[2].name "a" is already used by columns[1]; expected unique names"#),
        BadCase(json: #"{"delimiter": ",", "columns": [{"name": "l", "type": "label"}, {"name": "a", "type": "ignore"}]}"#,
                expected: #"s.json:1:31: columns has no output column; expected at least one categorical, integer, float or yymmddhh column"#),
        BadCase(json: #"{"delimiter": ",", "header": "yes", "columns": [{"name": "l", "type": "label"}]}"#,
                expected: #"s.json:1:30: header found "yes"; expected one of "absent", "present", "auto""#),
        BadCase(json: #"{"version": 2, "delimiter": ","}"#,
                expected: #"s.json:1:13: version schema version 2 is not supported (expected 1)"#),
        BadCase(json: #"{"delimiter": ",", "columns": {"l": "label"}}"#,
                expected: #"s.json:1:31: columns found an object; expected an array"#),
        BadCase(json: #"{"delimiter": ",", "missing": [""], "columns": [{"name": "l", "type": "label"}, {"name": "a", "type": "integer"}]}"#,
                expected: #"s.json:1:32: missing[0] found ""; expected a non-empty token without the delimiter, tab or line breaks (empty values are always missing)"#),
        BadCase(json: #"{"delimiter": ",", "columns": [{"name": "l", "type": "label"}, {"name": "a", "type": "integer", "derived_names": ["x", "y"]}]}"#,
                expected: #"s.json:1:114: columns[1].derived_names is only allowed on columns of type "yymmddhh", not "integer""#),
        BadCase(json: #"{"delimiter": ",", "columns": [{"name": "l", "type": "label"}, "#,
                expected: "s.json:1:64: invalid JSON: unexpected end of the file; expected a value"),
        // The strict reader: duplicate keys and trailing commas are refused where they are.
        BadCase(json: "{\"delimiter\": \",\",\n \"delimiter\": \"\\t\", \"columns\": []}",
                expected: #"s.json:2:2: invalid JSON: duplicate key "delimiter" in the top-level object"#),
        BadCase(json: #"{"delimiter": ",", "columns": [{"name": "l", "type": "label"}, {"name": "a", "type": "integer"},]}"#,
                expected: "s.json:1:97: invalid JSON: trailing comma before ']'"),
        BadCase(json: #"{"delimiter": ",", "columns": [{"name": "l", "type": "label", "name": "m"}]}"#,
                expected: #"s.json:1:63: invalid JSON: duplicate key "name" in columns[0]"#),
        BadCase(json: #"{"delimiter": ",", "quoting": "yes", "columns": []}"#,
                expected: #"s.json:1:31: quoting found a string ("yes"); expected true or false"#),
    ]

    @Test(arguments: badSchemas)
    func badSchemaNamesTheJSONPath(_ c: BadCase) throws {
        do {
            _ = try Schema.decode(Data(c.json.utf8), source: "s.json")
            Issue.record("expected an error")
        } catch let error as SchemaError {
            #expect(error.description.hasPrefix(c.expected), "\(error.description)")
        }
    }

    @Test func loadReportsUnreadableFile() {
        #expect(throws: SchemaError.cannotRead(path: "/nonexistent/s.json")) { try Schema.resolve("/nonexistent/s.json") }
    }
}
