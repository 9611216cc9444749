#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CSplit
import LogIO

/// The type of an output column's values.
public enum ValueType: String, Codable, CaseIterable, Sendable {
    case categorical, integer, float
}

/// A column of the normalized rows: a schema's non-ignored, non-label column, or one
/// derived from a `yymmddhh` column.
public struct OutputColumn: Codable, Equatable, Sendable {
    public var name: String
    public var type: ValueType
    public init(name: String, type: ValueType) {
        self.name = name
        self.type = type
    }
}

/// Why a raw line is not a valid row. The raw values are the keys of `bad_by_reason`
/// in stats.json and the reason column of the quarantine file.
public enum BadRowReason: String, Codable, CaseIterable, Sendable {
    case emptyLine = "empty_line"
    case columnCount = "column_count"
    case badLabel = "bad_label"
    case badInteger = "bad_integer"
    case integerOutOfRange = "integer_out_of_range"
    case badFloat = "bad_float"
    case floatNotFinite = "float_not_finite"
    case badTimestamp = "bad_timestamp"
    /// A tab, carriage return or newline inside an output value: the rows format cannot hold it.
    case unrepresentableValue = "unrepresentable_value"
    /// An unterminated quoted field, or bytes after a closing quote (only with `quoting`).
    case badQuoting = "bad_quoting"
    /// A missing value in a required column (`"required": true`; the user and item of the
    /// ratings presets), or a missing regression target (#13).
    case missingValue = "missing_value"
}

/// A line that failed validation. `value` points into the line (valid until the next parse).
public struct BadRow {
    public let reason: BadRowReason
    /// The raw (schema) column index of the offending value, or -1 for a whole-line problem.
    public let column: Int
    /// How many fields the line has (counted for `columnCount`; otherwise the expected count).
    public let fieldCount: Int
    public let value: ByteSlice
}

/// A valid row: the label and the normalized values in output-column order (missing =
/// empty). Everything points into the line or the parser's scratch memory and is valid
/// until the parser's next `parse`.
public struct ParsedRow {
    /// 0 or 1; nil when the line has no label column (`LabelMode.absent`/`.optional`).
    /// 0 for a schema with a `target` column: see `target`.
    public let label: UInt8?
    /// True when the line itself is this row in the rows format (`label<TAB>v1…<TAB>vn`):
    /// a tab-separated line with the label first, no ignored column and nothing normalized.
    /// Writers can then copy the line as it is.
    public let lineIsRowsFormat: Bool
    public let values: UnsafeBufferPointer<ByteSlice>
    /// Per output column: the number for integer and float columns, NaN when missing
    /// and for categorical columns.
    public let numbers: UnsafeBufferPointer<Double>
    /// Per output column: the exact value of integer columns (0 when missing or not integer).
    public let integers: UnsafeBufferPointer<Int64>
    /// The text of a `target` column (a finite number, as it appears), nil without one (#13).
    public var target: ByteSlice? = nil
}

public enum ParseResult {
    case row(ParsedRow)
    case bad(BadRow)
}

/// Whether lines carry the schema's label column.
public enum LabelMode: String, Codable, Sendable {
    /// Every line has the label column (training data).
    case required
    /// No line has it (unlabelled logs at predict time): one field fewer than the schema.
    case absent
    /// Either, told apart by the field count.
    case optional
}

/// Turns raw log lines into labels and normalized output values, or into a reason why not.
///
/// The one parser for raw logs: ctr-ingest validates with it, ctr-hash and ctr-predict read
/// raw logs through it. It allocates nothing per line: results point into the line or
/// into scratch memory owned by the parser.
///
/// Normalization: missing values (empty, or a `missing` token) become empty; integers are
/// written in canonical decimal (`+7`, `007` → `7`, `-0` → `0`); floats are checked
/// (finite, `strtod` syntax) and kept as written; categorical values are kept as bytes;
/// `yymmddhh` becomes hour of day `0`…`23` and day of week `mon`…`sun`.
///
/// ```swift
/// let parser = try RowParser(schema: .criteo)
/// switch parser.parse(line) {
/// case .row(let row): … row.label, row.values[i] …
/// case .bad(let bad): print(parser.message(for: bad))
/// }
/// ```
public final class RowParser {
    public let schema: Schema
    public let labelMode: LabelMode
    public let outputColumns: [OutputColumn]
    /// Index of the label among the raw columns.
    public let labelColumn: Int
    /// Number of raw fields a labelled line has.
    public let rawColumnCount: Int

    private enum Kind: UInt8 { case label, categorical, integer, float, ignore, yymmddhh, target }
    private struct Plan {
        var kind: Kind
        var output: Int        // first output column index (or -1)
        var missingStart: Int  // range in missingRanges
        var missingCount: Int
        var required: Bool
    }

    private let delimiter: UInt8
    private let quoting: Bool
    private let plans: UnsafeMutableBufferPointer<Plan>
    /// The raw and output column of each categorical column that needs no check (no missing
    /// tokens, not required): its value is its field as split (or `empty`), copied in a loop
    /// of its own after the other columns (Criteo's 26: the per-column switch, with its
    /// checks, only for the rest).
    private let plainCategorical: UnsafeMutableBufferPointer<(raw: Int, output: Int)>
    /// The same for integer columns: parsed in a loop of their own before the others; when one
    /// is not an integer, every column is checked in file order (the first bad one is reported).
    private let plainInteger: UnsafeMutableBufferPointer<(raw: Int, output: Int)>
    /// The other raw columns, in order: the ones `parse` checks one by one.
    private let checkedColumns: UnsafeMutableBufferPointer<Int>
    /// Every raw column, in order: what `parse` checks when a plain integer column is bad.
    private let allColumns: UnsafeMutableBufferPointer<Int>
    private let fields: UnsafeMutableBufferPointer<ByteSlice>
    private let values: UnsafeMutableBufferPointer<ByteSlice>
    private let numbers: UnsafeMutableBufferPointer<Double>
    private let integers: UnsafeMutableBufferPointer<Int64>
    /// Missing tokens, flat: (offset, length) pairs into `missingBytes`.
    private let missingRanges: UnsafeMutableBufferPointer<(Int, Int)>
    private let missingBytes: UnsafeMutableBufferPointer<UInt8>
    /// "0".."23" then "mon".."sun", and one byte that empty slices point at.
    private let constants: UnsafeMutableBufferPointer<UInt8>
    private var scratch: UnsafeMutableBufferPointer<UInt8>
    private var scratchUsed = 0
    private let empty: ByteSlice
    private let headerNames: [[UInt8]]
    private let plainCount: Int
    private let plainIntegerCount: Int
    private let checkedCount: Int
    /// Tab-separated, label first, every other column an output column, no quoting.
    private let verbatimCapable: Bool

    private static let weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    /// - Throws: `SchemaError` when the schema is invalid.
    public init(schema: Schema, labelMode: LabelMode = .required) throws {
        try schema.validate()
        self.schema = schema
        self.labelMode = labelMode
        delimiter = schema.delimiterByte
        quoting = schema.quoting
        labelColumn = schema.labelIndex!
        rawColumnCount = schema.columns.count

        var outputs: [OutputColumn] = []
        var plansArray: [Plan] = []
        var ranges: [(Int, Int)] = []
        var bytes: [UInt8] = []
        for column in schema.columns {
            let tokens = column.missing ?? schema.missing
            let start = ranges.count
            for token in tokens {
                ranges.append((bytes.count, token.utf8.count))
                bytes += Array(token.utf8)
            }
            let kind: Kind
            let first = outputs.count
            switch column.type {
            case .label: kind = .label
            case .target: kind = .target
            case .ignore: kind = .ignore
            case .categorical: kind = .categorical; outputs.append(OutputColumn(name: column.name, type: .categorical))
            case .integer: kind = .integer; outputs.append(OutputColumn(name: column.name, type: .integer))
            case .float: kind = .float; outputs.append(OutputColumn(name: column.name, type: .float))
            case .yymmddhh:
                kind = .yymmddhh
                let names = column.resolvedDerivedNames
                outputs.append(OutputColumn(name: names[0], type: .categorical))
                outputs.append(OutputColumn(name: names[1], type: .categorical))
            }
            let hasOutput = kind != .label && kind != .target && kind != .ignore
            plansArray.append(Plan(kind: kind, output: hasOutput ? first : -1, missingStart: start,
                                   missingCount: hasOutput ? tokens.count : 0, required: column.required ?? false))
        }
        outputColumns = outputs
        verbatimCapable = schema.delimiterByte == 9 && !schema.quoting && labelColumn == 0
            && schema.columns.dropFirst().allSatisfy { $0.type == .categorical || $0.type == .integer || $0.type == .float }
        headerNames = schema.columns.map { Array($0.name.utf8) }

        plans = .allocate(capacity: plansArray.count)
        _ = plans.initialize(from: plansArray)
        func plain(_ kind: Kind) -> [(raw: Int, output: Int)] {
            plansArray.indices.filter { plansArray[$0].kind == kind && plansArray[$0].missingCount == 0 && !plansArray[$0].required }
                .map { ($0, plansArray[$0].output) }
        }
        func buffer<T>(_ list: [T]) -> UnsafeMutableBufferPointer<T> {
            let b = UnsafeMutableBufferPointer<T>.allocate(capacity: max(list.count, 1))
            _ = b.initialize(from: list)
            return b
        }
        let categorical = plain(.categorical), integer = plain(.integer)
        let checked = plansArray.indices.filter { c in !categorical.contains { $0.raw == c } && !integer.contains { $0.raw == c } }
        plainCategorical = buffer(categorical)
        plainInteger = buffer(integer)
        checkedColumns = buffer(checked)
        allColumns = buffer(Array(plansArray.indices))
        plainCount = categorical.count
        plainIntegerCount = integer.count
        checkedCount = checked.count
        fields = .allocate(capacity: rawColumnCount + 1)
        fields.initialize(repeating: ByteSlice(start: nil, count: 0))
        values = .allocate(capacity: max(outputs.count, 1))
        numbers = .allocate(capacity: max(outputs.count, 1))
        integers = .allocate(capacity: max(outputs.count, 1))
        numbers.initialize(repeating: .nan)
        integers.initialize(repeating: 0)
        missingRanges = .allocate(capacity: max(ranges.count, 1))
        _ = missingRanges.initialize(from: ranges)
        missingBytes = .allocate(capacity: max(bytes.count, 1))
        _ = missingBytes.initialize(from: bytes)

        var table: [UInt8] = []
        for h in 0..<24 { table += Array(String(h).utf8) }
        for d in RowParser.weekdays { table += Array(d.utf8) }
        table.append(0)
        constants = .allocate(capacity: table.count)
        _ = constants.initialize(from: table)
        empty = ByteSlice(start: UnsafePointer(constants.baseAddress! + table.count - 1), count: 0)
        values.initialize(repeating: empty)
        scratch = .allocate(capacity: 64 * 1024)
    }

    deinit {
        plans.deallocate()
        plainCategorical.deallocate()
        plainInteger.deallocate()
        checkedColumns.deallocate()
        allColumns.deallocate()
        fields.deallocate()
        values.deallocate()
        numbers.deallocate()
        integers.deallocate()
        missingRanges.deallocate()
        missingBytes.deallocate()
        constants.deallocate()
        scratch.deallocate()
    }

    // MARK: - Parsing

    /// Validates and normalizes one raw line (without its line end).
    /// - Complexity: O(line length), no allocation (scratch grows only for a longer line than any before).
    public func parse(_ line: ByteSlice) -> ParseResult {
        let n = line.count
        guard n > 0, let base = line.baseAddress else {
            return .bad(BadRow(reason: .emptyLine, column: -1, fieldCount: 0, value: empty))
        }
        let needed = n + 24 * rawColumnCount + 64
        if scratch.count < needed {
            scratch.deallocate()
            scratch = .allocate(capacity: max(needed, scratch.count * 2))
        }
        scratchUsed = 0

        // Split into `fields`, counting past the expected number to report the real count,
        // and note in the same pass whether the line holds a carriage return (or a tab, when
        // not split on tabs): bytes the rows format cannot hold in a value.
        let capacity = rawColumnCount
        var count = 0
        var special = false
        if quoting && memchr(base, 34, n) != nil {
            switch splitQuoted(base, n) {
            case .success(let c): count = c
            case .failure(let bad): return .bad(bad)
            }
            special = memchr(base, 13, n) != nil || (delimiter != 9 && memchr(base, 9, n) != nil)
        } else {
            var flagged: Int32 = 0
            count = fields.baseAddress!.withMemoryRebound(to: swiftctr_field.self, capacity: capacity) {
                swiftctr_split_fields(base, n, delimiter, $0, capacity, 13, delimiter == 9 ? 13 : 9, &flagged)
            }
            special = flagged != 0
        }

        var hasLabel = true
        if count != rawColumnCount {
            if count == rawColumnCount - 1 && labelMode != .required {
                hasLabel = false
                // Open a gap at the label's position so raw column indices line up.
                var i = count
                while i > labelColumn { fields[i] = fields[i - 1]; i -= 1 }
                fields[labelColumn] = empty
            } else {
                return .bad(BadRow(reason: .columnCount, column: -1, fieldCount: count, value: empty))
            }
        } else if labelMode == .absent {
            return .bad(BadRow(reason: .columnCount, column: -1, fieldCount: count, value: empty))
        }

        var label: UInt8 = 0
        var target: ByteSlice?
        var verbatim = verbatimCapable && hasLabel && count == rawColumnCount
        var columns = checkedColumns.baseAddress!
        var columnCount = checkedCount
        for k in 0..<plainIntegerCount {
            let (c, o) = plainInteger[k]
            let f = fields[c]
            if f.count == 0 {
                storeMissingInteger(o)
                continue
            }
            guard let v = ByteParsing.int64(f) else {
                // Not an integer: check every column in file order, so that the first bad one
                // is the one reported (the integers stored so far are stored again).
                columns = allColumns.baseAddress!
                columnCount = rawColumnCount
                scratchUsed = 0
                break
            }
            if !storeInteger(v, f, o, lineLength: n) { verbatim = false }
        }
        for k in 0..<columnCount {
            let c = columns[k]
            let plan = plans[c]
            let f = fields[c]
            switch plan.kind {
            case .label:
                guard hasLabel else { continue }
                guard f.count == 1, f[0] == 48 || f[0] == 49 else {
                    return .bad(BadRow(reason: .badLabel, column: c, fieldCount: count, value: f))
                }
                label = f[0] &- 48
            case .target:
                guard hasLabel else { continue }
                guard f.count > 0 else { return .bad(BadRow(reason: .missingValue, column: c, fieldCount: count, value: f)) }
                // A bad target is counted under bad_label (the row's label column).
                guard let v = ByteParsing.double(f), v.isFinite, Float(v).isFinite else {
                    return .bad(BadRow(reason: .badLabel, column: c, fieldCount: count, value: f))
                }
                target = f
            case .ignore:
                continue
            case .categorical:
                if plan.required && isMissing(f, plan) {
                    return .bad(BadRow(reason: .missingValue, column: c, fieldCount: count, value: f))
                }
                if f.count > 0 && plan.missingCount > 0 && isMissing(f, plan) {
                    values[plan.output] = empty
                    verbatim = false
                } else {
                    values[plan.output] = f.count == 0 ? empty : f
                }
            case .integer:
                let o = plan.output
                if isMissing(f, plan) {
                    if plan.required { return .bad(BadRow(reason: .missingValue, column: c, fieldCount: count, value: f)) }
                    storeMissingInteger(o)
                    if f.count > 0 { verbatim = false }
                    continue
                }
                guard let v = ByteParsing.int64(f) else {
                    return .bad(BadRow(reason: RowParser.allDigits(f) ? .integerOutOfRange : .badInteger,
                                       column: c, fieldCount: count, value: f))
                }
                if !storeInteger(v, f, o, lineLength: n) { verbatim = false }
            case .float:
                let o = plan.output
                if isMissing(f, plan) {
                    if plan.required { return .bad(BadRow(reason: .missingValue, column: c, fieldCount: count, value: f)) }
                    values[o] = empty
                    numbers[o] = .nan
                    if f.count > 0 { verbatim = false }
                    continue
                }
                guard let v = ByteParsing.double(f) else {
                    return .bad(BadRow(reason: .badFloat, column: c, fieldCount: count, value: f))
                }
                guard v.isFinite else {
                    return .bad(BadRow(reason: .floatNotFinite, column: c, fieldCount: count, value: f))
                }
                numbers[o] = v
                values[o] = f
            case .yymmddhh:
                let o = plan.output
                if isMissing(f, plan) {
                    if plan.required { return .bad(BadRow(reason: .missingValue, column: c, fieldCount: count, value: f)) }
                    values[o] = empty
                    values[o + 1] = empty
                    continue
                }
                guard let (hour, weekday) = RowParser.timestamp(f) else {
                    return .bad(BadRow(reason: .badTimestamp, column: c, fieldCount: count, value: f))
                }
                values[o] = hourToken(hour)
                values[o + 1] = weekdayToken(weekday)
            }
        }
        for k in 0..<plainCount {
            let (c, o) = plainCategorical[k]
            let f = fields[c]
            values[o] = f.count == 0 ? empty : f
        }

        // The rows format separates values by tabs and lines by newlines: a value holding
        // either (or a carriage return, which readers may drop) cannot be written faithfully.
        if special {
            for o in 0..<outputColumns.count {
                let v = values[o]
                if v.count > 0 && (memchr(v.baseAddress!, 9, v.count) != nil || memchr(v.baseAddress!, 13, v.count) != nil) {
                    return .bad(BadRow(reason: .unrepresentableValue, column: rawColumn(ofOutput: o),
                                       fieldCount: count, value: v))
                }
            }
        }
        if quoting {
            for o in 0..<outputColumns.count where values[o].count > 0 && memchr(values[o].baseAddress!, 10, values[o].count) != nil {
                return .bad(BadRow(reason: .unrepresentableValue, column: rawColumn(ofOutput: o), fieldCount: count, value: values[o]))
            }
        }

        return .row(ParsedRow(label: hasLabel ? label : nil, lineIsRowsFormat: verbatim,
                              values: UnsafeBufferPointer(start: values.baseAddress, count: outputColumns.count),
                              numbers: UnsafeBufferPointer(start: numbers.baseAddress, count: outputColumns.count),
                              integers: UnsafeBufferPointer(start: integers.baseAddress, count: outputColumns.count),
                              target: target))
    }

    /// Stores integer column o's value v (field f): the number, and the field as its value when
    /// it is canonical, else the canonical digits written to scratch (`+7`, `007`, `-0`: then
    /// false, the line is not the row as written).
    @inline(__always)
    private func storeInteger(_ v: Int64, _ f: ByteSlice, _ o: Int, lineLength n: Int) -> Bool {
        numbers[o] = Double(v)
        integers[o] = v
        let signed = f[0] == 45 ? 1 : 0
        guard f[0] == 43 || (f[signed] == 48 && (f.count > 1)) else {
            values[o] = f
            return true
        }
        let out = scratch.baseAddress! + n + scratchUsed
        let length = formatInt(v, into: out)
        values[o] = ByteSlice(start: out, count: length)
        scratchUsed += length
        return false
    }

    @inline(__always)
    private func storeMissingInteger(_ o: Int) {
        values[o] = empty
        numbers[o] = .nan
        integers[o] = 0
    }

    @inline(__always)
    private func isMissing(_ f: ByteSlice, _ plan: Plan) -> Bool {
        if f.count == 0 { return true }
        var i = 0
        while i < plan.missingCount {
            let (offset, length) = missingRanges[plan.missingStart + i]
            if length == f.count && memcmp(f.baseAddress!, missingBytes.baseAddress! + offset, length) == 0 { return true }
            i += 1
        }
        return false
    }

    private func hourToken(_ hour: Int) -> ByteSlice {
        let base = UnsafePointer(constants.baseAddress!)
        return hour < 10 ? ByteSlice(start: base + hour, count: 1) : ByteSlice(start: base + 10 + 2 * (hour - 10), count: 2)
    }

    private func weekdayToken(_ day: Int) -> ByteSlice {
        ByteSlice(start: UnsafePointer(constants.baseAddress!) + 38 + 3 * day, count: 3)
    }

    private enum SplitOutcome { case success(Int), failure(BadRow) }

    /// RFC 4180 splitting: quoted fields are unquoted into scratch (`""` → `"`).
    private func splitQuoted(_ base: UnsafePointer<UInt8>, _ n: Int) -> SplitOutcome {
        let out = scratch.baseAddress!
        var count = 0
        var i = 0
        while true {
            var field: ByteSlice
            if i < n && base[i] == 34 {
                let begin = scratchUsed
                var j = i + 1
                var closed = false
                while j < n {
                    if base[j] == 34 {
                        if j + 1 < n && base[j + 1] == 34 { out[scratchUsed] = 34; scratchUsed += 1; j += 2; continue }
                        closed = true
                        j += 1
                        break
                    }
                    out[scratchUsed] = base[j]
                    scratchUsed += 1
                    j += 1
                }
                let slice = ByteSlice(start: base + i, count: j - i)
                guard closed else {
                    return .failure(BadRow(reason: .badQuoting, column: count, fieldCount: count + 1, value: slice))
                }
                guard j == n || base[j] == delimiter else {
                    return .failure(BadRow(reason: .badQuoting, column: count, fieldCount: count + 1,
                                           value: ByteSlice(start: base + i, count: n - i)))
                }
                field = ByteSlice(start: out + begin, count: scratchUsed - begin)
                i = j
            } else {
                var j = i
                while j < n && base[j] != delimiter { j += 1 }
                field = ByteSlice(start: base + i, count: j - i)
                i = j
            }
            if count < rawColumnCount { fields[count] = field }
            count += 1
            if i >= n { break }
            i += 1  // the delimiter
            if i == n {  // a trailing delimiter: one more, empty field
                if count < rawColumnCount { fields[count] = empty }
                count += 1
                break
            }
        }
        // Unquoted bytes fill scratch[0..<n] (never more than the line); canonical
        // integers go after them at scratch[n...], counted from 0 again.
        scratchUsed = 0
        return .success(count)
    }

    /// The raw column an output column comes from.
    public func rawColumn(ofOutput output: Int) -> Int {
        for c in 0..<rawColumnCount {
            let p = plans[c]
            if p.output >= 0 && (p.output == output || (p.kind == .yymmddhh && p.output + 1 == output)) { return c }
        }
        return -1
    }

    static func allDigits(_ f: ByteSlice) -> Bool {
        var i = f.count > 0 && (f[0] == 45 || f[0] == 43) ? 1 : 0
        guard i < f.count else { return false }
        while i < f.count {
            guard f[i] &- 48 < 10 else { return false }
            i += 1
        }
        return true
    }

    /// Hour of day and day of week (0 = Monday) of a `YYMMDDHH` value (years 2000–2099),
    /// nil unless it is 8 digits naming a real date and an hour 00–23.
    static func timestamp(_ f: ByteSlice) -> (hour: Int, weekday: Int)? {
        guard f.count == 8 else { return nil }
        func two(_ i: Int) -> Int? {
            let a = Int(f[i]) - 48, b = Int(f[i + 1]) - 48
            guard a >= 0 && a <= 9 && b >= 0 && b <= 9 else { return nil }
            return a * 10 + b
        }
        guard let yy = two(0), let mm = two(2), let dd = two(4), let hh = two(6) else { return nil }
        let year = 2000 + yy
        guard (1...12).contains(mm), hh < 24 else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays: Int
        switch mm {
        case 2: monthDays = leap ? 29 : 28
        case 4, 6, 9, 11: monthDays = 30
        default: monthDays = 31
        }
        guard dd >= 1 && dd <= monthDays else { return nil }
        // Days since 1970-01-01 (Howard Hinnant's days_from_civil); that day was a Thursday.
        let y = mm <= 2 ? year - 1 : year
        let era = y / 400
        let yoe = y - era * 400
        let doy = (153 * (mm + (mm > 2 ? -3 : 9)) + 2) / 5 + dd - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        let weekday = ((days % 7) + 7 + 3) % 7  // 0 = Monday
        return (hh, weekday)
    }

    // MARK: - Headers and messages

    /// True when the line's fields are the schema's column names (ASCII case-insensitive,
    /// a UTF-8 byte order mark ignored). A header of an unlabelled file may lack the label.
    public func isHeader(_ line: ByteSlice) -> Bool {
        var names = RowParser.splitPlain(line, delimiter, quoting: quoting)
        if let first = names.first, first.starts(with: [0xEF, 0xBB, 0xBF]) { names[0] = Array(first.dropFirst(3)) }
        var expected = headerNames
        if names.count == expected.count - 1 && labelMode != .required { expected.remove(at: labelColumn) }
        guard names.count == expected.count else { return false }
        for (a, b) in zip(names, expected) {
            guard a.count == b.count, zip(a, b).allSatisfy({ RowParser.lower($0) == RowParser.lower($1) }) else { return false }
        }
        return true
    }

    /// The header line this schema expects.
    public var expectedHeader: String {
        schema.columns.map(\.name).joined(separator: schema.delimiter)
    }

    /// What is wrong with a first line that should be a header.
    public func headerMismatch(_ line: ByteSlice) -> String {
        let names = RowParser.splitPlain(line, delimiter, quoting: quoting).map { String(decoding: $0, as: UTF8.self) }
        let expected = schema.columns.map(\.name)
        if names.count != expected.count {
            return "found \(names.count) header fields; expected \(expected.count): \(expectedHeader)"
        }
        for (i, (a, b)) in zip(names, expected).enumerated() where a.lowercased() != b.lowercased() {
            return "header field \(i + 1) is \"\(a)\"; expected \"\(b)\" (expected header: \(expectedHeader))"
        }
        return "expected header: \(expectedHeader)"
    }

    private static func lower(_ b: UInt8) -> UInt8 { b >= 65 && b <= 90 ? b + 32 : b }

    private static func splitPlain(_ line: ByteSlice, _ delimiter: UInt8, quoting: Bool) -> [[UInt8]] {
        var out: [[UInt8]] = [[]]
        var inQuotes = false
        for b in line {
            if quoting && b == 34 { inQuotes.toggle(); continue }
            if b == delimiter && !inQuotes { out.append([]) } else { out[out.count - 1].append(b) }
        }
        return out
    }

    /// A one-line description of a bad row: which column, what was found, what was expected.
    public func message(for bad: BadRow) -> String {
        let name = bad.column >= 0 && bad.column < rawColumnCount ? schema.columns[bad.column].name : ""
        let at = "column \(bad.column + 1) (\(name))"
        let found = RowParser.quoted(bad.value)
        let separator = delimiter == 9 ? "tab" : "\"\(Character(UnicodeScalar(delimiter)))\""
        switch bad.reason {
        case .emptyLine:
            return "empty line; expected \(rawColumnCount) fields separated by \(separator)"
        case .columnCount:
            let expected = labelMode == .required ? "\(rawColumnCount)"
                : labelMode == .absent ? "\(rawColumnCount - 1)" : "\(rawColumnCount) (or \(rawColumnCount - 1) without the label)"
            return "found \(bad.fieldCount) fields; expected \(expected) separated by \(separator)"
        case .badLabel:
            if bad.column >= 0 && bad.column < rawColumnCount && schema.columns[bad.column].type == .target {
                return "\(at): found \(found); expected a finite number (the regression target)"
            }
            return "\(at): found \(found); expected 0 or 1"
        case .badInteger:
            return "\(at): found \(found); expected a whole number"
        case .integerOutOfRange:
            return "\(at): found \(found); expected a whole number in the 64-bit range"
        case .badFloat:
            return "\(at): found \(found); expected a number"
        case .floatNotFinite:
            return "\(at): found \(found); expected a finite number"
        case .badTimestamp:
            return "\(at): found \(found); expected YYMMDDHH (a real date, hour 00-23)"
        case .unrepresentableValue:
            return "\(at): found \(found), which holds a tab, carriage return or newline; the rows format cannot hold it"
        case .badQuoting:
            return "\(at): found \(found); expected a quoted field closed by \" and followed by \(separator) or the line end"
        case .missingValue:
            if bad.column >= 0 && bad.column < rawColumnCount && schema.columns[bad.column].type == .target {
                return "\(at): missing; expected a finite number (the regression target)"
            }
            return "\(at): missing (found \(found)); expected a value (the column is required)"
        }
    }

    /// A value for a message: quoted, escaped, cut to 60 bytes.
    static func quoted(_ value: ByteSlice) -> String {
        let cut = value.count > 60
        let text = String(decoding: UnsafeBufferPointer(rebasing: value[..<min(value.count, 60)]), as: UTF8.self)
        var escaped = ""
        for ch in text.unicodeScalars {
            switch ch {
            case "\t": escaped += "\\t"
            case "\r": escaped += "\\r"
            case "\n": escaped += "\\n"
            case "\"": escaped += "\\\""
            default: escaped.unicodeScalars.append(ch)
            }
        }
        return "\"" + escaped + (cut ? "…" : "") + "\""
    }
}
