import Dataset
import Foundation
import Ingest
import LogIO

/// Splits the lines of a chunk into label and values: rows-file lines (`label<TAB>v1…vn`)
/// or raw log lines through ctr-ingest's `RowParser`. One per worker thread.
final class LineSplitter {
    enum Outcome {
        case row(label: UInt8, values: UnsafeBufferPointer<ByteSlice>)
        /// A raw file's header line.
        case header
        /// A raw line that fails the schema: skipped and counted, like ctr-ingest's quarantine.
        case bad(reason: BadRowReason, message: String)
        /// A rows-file line that is malformed: an error (ctr-ingest never writes one).
        case invalid(message: String)
    }

    private let format: InputSource.Format
    private let fieldCount: Int
    private let values: UnsafeMutableBufferPointer<ByteSlice>
    private let parser: RowParser?

    init(source: InputSource) throws {
        format = source.format
        fieldCount = source.columns.count
        values = .allocate(capacity: fieldCount + 1)
        values.initialize(repeating: ByteSlice(start: nil, count: 0))
        parser = source.format == .raw ? try RowParser(schema: source.schema, labelMode: .required) : nil
    }

    deinit { values.deallocate() }

    @inline(__always)
    func split(_ line: ByteSlice, firstOfFile: Bool) -> Outcome {
        if let parser {
            switch parser.parse(line) {
            case .row(let row):
                return .row(label: row.label ?? 0, values: row.values)
            case .bad(let bad):
                if firstOfFile && parser.isHeader(line) { return .header }
                return .bad(reason: bad.reason, message: parser.message(for: bad))
            }
        }
        switch RowsLine.split(line, into: values, expected: fieldCount) {
        case .success(let label):
            return .row(label: label, values: UnsafeBufferPointer(rebasing: values[0..<fieldCount]))
        case .failure(let message):
            return .invalid(message: message)
        }
    }
}

extension LineChunk {
    /// Whether line `i` is the first line of its file.
    @inline(__always)
    func isFirstOfFile(_ i: Int) -> Bool { firstLine + i == 1 }
}

/// Counts the tokens of its share of the fields over every chunk of the training split.
final class CountWorker: @unchecked Sendable {
    private struct Plan {
        let field: Int
        let transform: Transform
        let kind: ValueType
        let seed: UInt32
        let counted: Bool
    }

    private let plans: UnsafeMutableBufferPointer<Plan>
    private let counts: FieldCounts
    private let splitter: LineSplitter
    private let countsRows: Bool
    private let columnNames: [String]
    private(set) var rows = 0

    init(fields: [Int], drafts: [HashRun.FieldDraft], counts: FieldCounts, source: InputSource, countsRows: Bool) throws {
        plans = .allocate(capacity: max(fields.count, 1))
        _ = plans.initialize(from: fields.map { f in
            Plan(field: f, transform: drafts[f].transform, kind: drafts[f].kind, seed: drafts[f].seed, counted: drafts[f].counted)
        })
        self.counts = counts
        splitter = try LineSplitter(source: source)
        self.countsRows = countsRows
        columnNames = drafts.map(\.name)
        planCount = fields.count
    }

    private let planCount: Int

    deinit { plans.deallocate() }

    func process(_ chunk: LineChunk) throws {
        let lineCount = chunk.lineCount
        let planCount = self.planCount
        let plans = UnsafePointer(self.plans.baseAddress!)
        let counts = self.counts.fields
        var rows = 0
        defer { if countsRows { self.rows += rows } }
        for i in 0..<lineCount {
            let values: UnsafeBufferPointer<ByteSlice>
            switch splitter.split(chunk.line(i), firstOfFile: chunk.isFirstOfFile(i)) {
            case .row(_, let v): values = v
            case .header, .bad: continue
            case .invalid(let message):
                throw FeaturizeError.badRow(path: chunk.path, line: chunk.firstLine + i, detail: message)
            }
            rows += 1
            for j in 0..<planCount {
                let plan = plans[j]
                let value = values[plan.field]
                let count = counts + plan.field
                if value.count == 0 {
                    count.pointee.missing += 1
                    continue
                }
                count.pointee.present += 1
                switch plan.transform {
                case .hash:
                    if plan.counted {
                        count.pointee.add(Token.fingerprint(UnsafeRawBufferPointer(value), seed: plan.seed))
                    }
                case .logSquare:
                    let token: (tag: UInt8, bits: UInt64)
                    if plan.kind == .integer {
                        guard let v = ByteParsing.int64(value) else { throw badValue(chunk, i, plan.field, plan.kind, value) }
                        token = Token.logSquare(int: v)
                    } else {
                        guard let v = ByteParsing.double(value), v.isFinite else { throw badValue(chunk, i, plan.field, plan.kind, value) }
                        token = Token.logSquare(double: v)
                    }
                    if plan.counted {
                        count.pointee.add(Token.withNumericToken(tag: token.tag, bits: token.bits) { Token.fingerprint($0, seed: plan.seed) })
                    }
                case .scaled, .buckets:
                    guard let v = CompiledField.number(value, plan.kind) else { throw badValue(chunk, i, plan.field, plan.kind, value) }
                    if v < count.pointee.minimum { count.pointee.minimum = v }
                    if v > count.pointee.maximum { count.pointee.maximum = v }
                }
            }
        }
    }

    private func badValue(_ chunk: LineChunk, _ i: Int, _ field: Int, _ kind: ValueType, _ value: ByteSlice) -> FeaturizeError {
        .badValue(path: chunk.path, line: chunk.firstLine + i, column: columnNames[field], value: value.string,
                  expected: kind == .integer ? "a 64-bit integer" : "a finite number")
    }
}

/// A chunk of lines and what a worker made of them: libffm text, features and labels.
final class FeaturizeSlot: @unchecked Sendable {
    let chunk: LineChunk
    var path: String {
        get { chunk.path }
        set { chunk.path = newValue }
    }
    private(set) var text: UnsafeMutablePointer<UInt8>
    private var textCapacity: Int
    var textUsed = 0
    private(set) var features: UnsafeMutablePointer<Feature>
    private var featureCapacity: Int
    private(set) var labels: UnsafeMutablePointer<UInt8>
    private var labelCapacity: Int
    var rows = 0
    var headers = 0
    var badByReason = Array(repeating: 0, count: BadRowReason.allCases.count)
    var firstBad: String?

    init(capacity: Int) {
        chunk = LineChunk(capacity: capacity)
        textCapacity = capacity * 2
        text = .allocate(capacity: textCapacity)
        featureCapacity = 1024
        features = .allocate(capacity: featureCapacity)
        labelCapacity = 1024
        labels = .allocate(capacity: labelCapacity)
    }

    deinit {
        text.deallocate()
        features.deallocate()
        labels.deallocate()
    }

    func reset(lines: Int, fieldCount: Int) {
        rows = 0
        textUsed = 0
        headers = 0
        firstBad = nil
        for i in badByReason.indices { badByReason[i] = 0 }
        if lines * fieldCount > featureCapacity {
            features.deallocate()
            featureCapacity = lines * fieldCount
            features = .allocate(capacity: featureCapacity)
        }
        if lines > labelCapacity {
            labels.deallocate()
            labelCapacity = lines
            labels = .allocate(capacity: labelCapacity)
        }
    }

    @inline(__always)
    func hasText(room n: Int, used: Int) -> Bool { used + n <= textCapacity }

    func reserveText(_ n: Int) {
        if textUsed + n > textCapacity {
            let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: max(textCapacity * 2, textUsed + n))
            grown.update(from: text, count: textUsed)
            text.deallocate()
            text = grown
            textCapacity = max(textCapacity * 2, textUsed + n)
        }
    }
}

/// Featurizes chunks: one per worker thread.
final class FeaturizeWorker: @unchecked Sendable {
    private let featurizer: Featurizer
    private let splitter: LineSplitter
    private let writeText: Bool
    private let prefixes: LibffmText.FieldPrefixes

    init(featurizer: Featurizer, source: InputSource, writeText: Bool) throws {
        self.featurizer = featurizer
        splitter = try LineSplitter(source: source)
        self.writeText = writeText
        prefixes = LibffmText.FieldPrefixes(fieldCount: featurizer.fieldCount)
    }

    func process(_ slot: FeaturizeSlot) throws {
        let chunk = slot.chunk
        let fieldCount = featurizer.fieldCount
        slot.reset(lines: chunk.lineCount, fieldCount: fieldCount)
        let rowBound = LibffmText.rowBound(fieldCount: fieldCount)
        let features = slot.features
        let labels = slot.labels
        // Locals in the loop, written back once: no exclusivity checks on class properties per row.
        var rows = 0
        var textUsed = 0
        var text = slot.text
        var headers = 0
        defer {
            slot.rows = rows
            slot.textUsed = textUsed
            slot.headers = headers
        }
        for i in 0..<chunk.lineCount {
            switch splitter.split(chunk.line(i), firstOfFile: chunk.isFirstOfFile(i)) {
            case .row(let label, let values):
                let out = features + rows * fieldCount
                if let f = featurizer.featurize(values: values, into: out) {
                    let field = featurizer.spec.fields[f]
                    throw FeaturizeError.badValue(path: chunk.path, line: chunk.firstLine + i, column: field.name,
                                                  value: values[f].string,
                                                  expected: field.kind == .integer ? "a 64-bit integer" : "a finite number")
                }
                labels[rows] = label
                rows += 1
                if writeText {
                    if !slot.hasText(room: rowBound, used: textUsed) {
                        slot.textUsed = textUsed
                        slot.reserveText(rowBound)
                        text = slot.text
                    }
                    textUsed += LibffmText.format(label: label, features: out, count: fieldCount,
                                                  prefixes: prefixes, into: text + textUsed)
                }
            case .header:
                headers += 1
            case .bad(let reason, let message):
                slot.badByReason[BadRowReason.allCases.firstIndex(of: reason)!] += 1
                if slot.firstBad == nil { slot.firstBad = "\(chunk.path):\(chunk.firstLine + i): \(message)" }
            case .invalid(let message):
                throw FeaturizeError.badRow(path: chunk.path, line: chunk.firstLine + i, detail: message)
            }
        }
    }
}

/// Formatting libffm text lines (`label field:index:value …\n`) straight into a buffer.
/// Values use Dataset's `FloatText`, so the text reads back to the cached Float exactly.
enum LibffmText {
    /// `" f:"` for every field, 8 bytes per field (little-endian packed) and its length.
    struct FieldPrefixes {
        let packed: [UInt64]
        let lengths: [Int]

        init(fieldCount: Int) {
            var packed: [UInt64] = []
            var lengths: [Int] = []
            for f in 0..<fieldCount {
                let bytes = Array(" \(f):".utf8)
                var word: UInt64 = 0
                for (i, b) in bytes.prefix(8).enumerated() { word |= UInt64(b) << (8 * UInt64(i)) }
                packed.append(word)
                lengths.append(bytes.count)
            }
            self.packed = packed
            self.lengths = lengths
        }
    }

    /// Bytes a row can take at most: label, newline, and per field prefix (≤ 8), index (≤ 10),
    /// `:` and a value (≤ 32).
    static func rowBound(fieldCount: Int) -> Int { 2 + fieldCount * 51 }

    @inline(__always)
    static func format(label: UInt8, features: UnsafePointer<Feature>, count: Int, prefixes: FieldPrefixes,
                       into out: UnsafeMutablePointer<UInt8>) -> Int {
        out[0] = 48 &+ label
        var n = 1
        prefixes.packed.withUnsafeBufferPointer { packed in
            prefixes.lengths.withUnsafeBufferPointer { lengths in
                for i in 0..<count {
                    let feature = features[i]
                    let f = Int(feature.field)
                    if f < packed.count {
                        UnsafeMutableRawPointer(out + n).storeBytes(of: packed[f].littleEndian, as: UInt64.self)
                        n += lengths[f]
                    } else {
                        out[n] = 32
                        n += 1
                        n += formatInt(Int64(feature.field), into: out + n)
                        out[n] = 58
                        n += 1
                    }
                    n += formatUInt32(feature.index, into: out + n)
                    out[n] = 58
                    if feature.value == 1 {
                        out[n + 1] = 49
                        n += 2
                    } else {
                        n += 1
                        n += FloatText.format(feature.value, into: out + n)
                    }
                }
            }
        }
        out[n] = 10
        return n + 1
    }

    /// Decimal digits of a UInt32, two at a time.
    @inline(__always)
    static func formatUInt32(_ value: UInt32, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var digits = 1
        var v = value
        while v >= 10 { v /= 10; digits += 1 }
        var x = value
        var i = digits
        while x >= 100 {
            let r = Int(x % 100)
            x /= 100
            i -= 2
            out[i] = pairs[2 * r]
            out[i + 1] = pairs[2 * r + 1]
        }
        if x >= 10 {
            out[i - 2] = pairs[2 * Int(x)]
            out[i - 1] = pairs[2 * Int(x) + 1]
        } else {
            out[i - 1] = 48 &+ UInt8(x)
        }
        return digits
    }

    nonisolated(unsafe) private static let pairs: UnsafeMutablePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 200)
        for i in 0..<100 {
            p[2 * i] = 48 + UInt8(i / 10)
            p[2 * i + 1] = 48 + UInt8(i % 10)
        }
        return p
    }()
}
