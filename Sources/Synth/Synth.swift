import ArgumentParser
import Foundation
import LogIO
import StageKit

/// The raw layout ctr-synth writes.
public enum SynthFormat: String, Codable, CaseIterable, Sendable, ParameterChoice {
    /// Criteo Kaggle `train.txt`: TSV, no header, label, I1…I13, C1…C26.
    case criteo
    /// Avazu `train.csv`: CSV with header, id, click, hour (YYMMDDHH), 21 categorical columns.
    case avazu
    /// User-item ratings like MovieLens `u.data` (#13): TSV, no header, user, item, rating
    /// (a real number), timestamp; from a planted low-rank matrix with Gaussian noise.
    case ratings
}

/// The planted model the labels are drawn from.
public enum PlantedTruth: String, Codable, CaseIterable, Sendable, ParameterChoice {
    /// A field-aware factorization machine over the values' keys (integers by their Criteo
    /// bucket `floor(ln(v)^2)`): bias, linear terms and field-aware pairwise interactions
    /// (`PlantedModel`).
    case ffm
    /// The ffm truth plus a network (40 inputs, 16 ReLU units, 1 output) over 4-dimensional
    /// embeddings of the 10 interacting fields' keys (issue #14).
    case deep
    /// The ffm truth, except that each non-negative integer value acts through smooth random
    /// curves of ln(1 + v) (its linear weight and its latent vectors), not aligned with any
    /// bucket boundaries (`PlantedModel`). Criteo format only has integer columns.
    case smooth
    /// The ffm truth plus pure three-way interactions: c × Σ over the triples of the first 5
    /// interacting fields of Σ_d E'(f, key)_d E'(g, key)_d E'(h, key)_d, E ∈ (-1, 1)^4 hashed
    /// from (field, key) and centred on its mean over the rows (E' = E − mean), so no single
    /// field or pair explains any of it; c gives it a standard deviation of 1.5 logits (an
    /// order-3 ANOVA kernel over those fields; issue #13's hofm). `PlantedModel.makeCubicPure`.
    case cubic
}

/// Every option of ctr-synth, declared once. Start from `.defaults`.
public struct SynthParams: StageParameters {
    @Option("criteo (TSV, 40 fields, no header), avazu (CSV, 24 fields, header) or ratings (TSV: user, item, rating, timestamp).")
    public var format = SynthFormat.criteo

    @Option("Number of rows.", in: .atLeast(1), value: "N")
    public var rows = 10_000

    @Option("Seed: the same seed gives the same output.", value: "N")
    public var seed: UInt64 = 1

    @Option("Mean click probability (default 0.2 for criteo, 0.17 for avazu).", in: .open(0, 1), value: "R")
    public var clickRate: Double?

    @Option("Planted truth: ffm (a field-aware model over hashed values, integers by floor(ln(v)^2) bucket), deep (ffm plus a small random network over planted field embeddings), smooth (integer fields act through smooth curves of ln(1+v); criteo format) or cubic (ffm plus pure three-way interactions among 5 fields, not explained by pairs).")
    public var truth = PlantedTruth.ffm

    @Option("Strength of the pairwise field interactions (0: a purely linear truth).", in: .atLeast(0), value: "X")
    public var interactionScale = 1.0

    @Option("Days the avazu hour column spans (rows are in time order).", in: .closed(1, 3650), value: "N")
    public var days = 10

    @Option("gzip level (1-9) for outputs ending in .gz.", in: .closed(1, 9), value: "N")
    public var gzipLevel = 6

    // MARK: - #13 ratings

    @Option("ratings: number of users.", in: .closed(1, 100_000_000), value: "N")
    public var users = 2_000

    @Option("ratings: number of items.", in: .closed(1, 100_000_000), value: "N")
    public var items = 1_000

    @Option("ratings: rank of the planted user-item matrix.", in: .closed(1, 256), value: "R")
    public var rank = 4

    @Option("ratings: standard deviation σ of the Gaussian noise on each rating (the best achievable RMSE).", in: .closed(0, 100), value: "X")
    public var noise = 0.5

    public init() {}

    public var resolvedClickRate: Double { clickRate ?? (format == .criteo ? 0.2 : 0.17) }
}

/// What a run wrote, with the numbers that say how learnable it is.
public struct SynthSummary: Codable, Equatable, Sendable {
    public var rows: Int
    public var clicks: Int
    /// Mean of the true click probabilities.
    public var meanProbability: Double
    /// Log loss of the true probabilities on the drawn labels: the best any model can
    /// expect on this data (up to sampling noise).
    public var bayesLogLoss: Double
    /// Log loss of the constant predictor (the observed click rate).
    public var constantLogLoss: Double
    /// `--format ratings`: RMSE of the noise-free ratings (≈ σ, the best achievable) and of
    /// the mean rating; nil for click logs.
    public var bayesRMSE: Double?
    public var constantRMSE: Double?

    /// Bayes log loss / constant log loss (normalized entropy of the truth).
    public var bayesNormalizedEntropy: Double { constantLogLoss > 0 ? bayesLogLoss / constantLogLoss : 0 }

    enum CodingKeys: String, CodingKey {
        case rows, clicks
        case meanProbability = "mean_probability"
        case bayesLogLoss = "bayes_log_loss"
        case constantLogLoss = "constant_log_loss"
        case bayesRMSE = "bayes_rmse"
        case constantRMSE = "constant_rmse"
    }
}

/// Writes synthetic Criteo- or Avazu-format click logs drawn from a planted field-aware model.
public enum Synth {
    /// Generates `params.rows` rows into `output` (gzip when it ends in `.gz`) and, when
    /// `probabilities` is given, each row's true click probability (one per line, same order).
    /// Deterministic for `params.seed`. Both files are written atomically.
    public static func run(params: SynthParams, output: String, probabilities: String? = nil) throws -> SynthSummary {
        try params.validated()
        if params.format == .ratings { return try runRatings(params: params, output: output, probabilities: probabilities) }
        var generator = Generator(params: params)
        // Both files appear together (the logs last) or not at all.
        let published = CommitGroup()
        let writer = try AtomicFileWriter(path: output, gzip: output.hasSuffix(".gz"), level: Int32(params.gzipLevel), group: published)
        let truth = try probabilities.map {
            try AtomicFileWriter(path: $0, gzip: $0.hasSuffix(".gz"), level: Int32(params.gzipLevel), group: published)
        }
        if params.format == .avazu { try writer.write(Generator.avazuHeader + "\n") }
        var clicks = 0
        var sumP = 0.0
        var logLoss = 0.0
        for i in 0..<params.rows {
            let (p, label) = try generator.writeRow(index: i, to: writer)
            clicks += label
            sumP += p
            logLoss -= label == 1 ? log(p) : log(1 - p)
            if let truth {
                try truth.withFreeSpace(atLeast: 32) { formatProbability(p, into: $0) }
            }
        }
        try truth?.commit()
        try writer.commit()
        try published.commit()
        let n = Double(params.rows)
        let rate = Double(clicks) / n
        let constant = rate <= 0 || rate >= 1 ? 0 : -(rate * log(rate) + (1 - rate) * log(1 - rate))
        return SynthSummary(rows: params.rows, clicks: clicks, meanProbability: sumP / n,
                            bayesLogLoss: logLoss / n, constantLogLoss: constant)
    }

    /// `0.` and 12 decimals and a newline (p is in (0, 1) by construction).
    static func formatProbability(_ p: Double, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var scaled = UInt64((p * 1e12).rounded())
        if scaled >= 1_000_000_000_000 { scaled = 999_999_999_999 }
        out[0] = 48
        out[1] = 46
        for i in stride(from: 13, through: 2, by: -1) {
            out[i] = 48 + UInt8(scaled % 10)
            scaled /= 10
        }
        out[14] = 10
        return 15
    }
}

/// Draws rows: per field a Zipf-distributed rank (0 = missing), the model keys, the
/// label from the planted model, and the raw line.
struct Generator {
    let params: SynthParams
    let fields: [FieldSpec]
    var model: PlantedModel
    var rng: Xoshiro256
    private let tokenSeed: UInt64
    /// Per field: (vocabulary + 1)^(1 - s), for the Zipf inversion.
    private let zipfTop: [Double]
    private var keys: [Int64]
    private var ranks: [Int]
    private var integers: [Int64]
    /// Smooth truth: per field ln(1 + v) of a non-negative integer value, else NaN.
    private var smoothX: [Double]
    private let smooth: Bool

    static let avazuHeader = "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,app_category,"
        + "device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,C16,C17,C18,C19,C20,C21"

    init(params: SynthParams) {
        self.params = params
        let (fields, interacting) = params.format == .criteo ? Generator.criteoFields() : Generator.avazuFields()
        self.fields = fields
        model = PlantedModel(seed: params.seed, fields: fields, interacting: interacting,
                             interactionScale: 0.4 * params.interactionScale, deep: params.truth == .deep,
                             cubic: params.truth == .cubic)
        smooth = params.truth == .smooth
        if smooth { model.makeSmooth() }
        smoothX = Array(repeating: .nan, count: fields.count)
        tokenSeed = mix64(params.seed ^ 0x70c3_5eed)
        zipfTop = fields.map { pow(Double($0.vocabulary) + 1, 1 - $0.zipf) }
        keys = Array(repeating: 0, count: fields.count)
        ranks = Array(repeating: 0, count: fields.count)
        integers = Array(repeating: 0, count: fields.count)
        if params.truth == .cubic {
            // The cubic part's centring and size, from rows of their own stream.
            rng = Xoshiro256(seed: mix64(params.seed ^ 0xc0b1c))
            var sampler = self
            model.makeCubicPure(rows: 100_000) { i in
                sampler.draw(index: i * max(params.rows, 1) / 100_000)
                return sampler.keys
            }
        }
        // Calibrate the bias on rows from a separate stream, so the data rows do not depend on it.
        rng = Xoshiro256(seed: mix64(params.seed ^ 0xca11_b4a7e))
        var scores: [Double] = []
        let calibrationRows = min(20_000, max(2_000, params.rows))
        scores.reserveCapacity(calibrationRows)
        for i in 0..<calibrationRows {
            draw(index: i * max(params.rows, 1) / calibrationRows)
            scores.append(score())
        }
        model.calibrate(scores: scores, rate: params.resolvedClickRate)
        rng = Xoshiro256(seed: params.seed)
    }

    // MARK: - Fields

    /// Criteo-like: vocabulary sizes and missing rates after the Kaggle training set.
    static func criteoFields() -> ([FieldSpec], [Int]) {
        // (vocabulary, zipf, missing, negative rate)
        let ints: [(Int, Double, Double, Double)] = [
            (1_000, 1.4, 0.45, 0), (20_000, 1.2, 0.0, 0.08), (60_000, 1.1, 0.21, 0), (500, 1.3, 0.22, 0),
            (500_000, 0.8, 0.03, 0), (40_000, 1.2, 0.22, 0), (20_000, 1.3, 0.04, 0), (5_000, 1.3, 0.0005, 0),
            (20_000, 1.0, 0.04, 0), (10, 1.5, 0.45, 0), (200, 1.4, 0.04, 0), (1_000, 1.6, 0.77, 0), (5_000, 1.2, 0.22, 0),
        ]
        let cats: [(Int, Double, Double)] = [
            (1_460, 1.2, 0), (583, 1.1, 0), (10_131_227, 1.05, 0.034), (2_202_608, 1.05, 0.034), (305, 1.2, 0),
            (24, 1.3, 0.12), (12_517, 1.1, 0), (633, 1.2, 0), (3, 2.0, 0), (93_145, 1.05, 0),
            (5_683, 1.1, 0), (8_351_593, 1.05, 0.034), (3_194, 1.1, 0), (27, 1.3, 0), (14_992, 1.1, 0),
            (5_461_306, 1.05, 0.034), (10, 1.4, 0), (5_652, 1.1, 0), (2_173, 1.2, 0.44), (4, 1.5, 0.44),
            (7_046_547, 1.05, 0.034), (18, 1.5, 0.76), (15, 1.4, 0), (286_181, 1.05, 0.034), (105, 1.2, 0.44), (142_572, 1.1, 0.44),
        ]
        var fields: [FieldSpec] = []
        for (i, f) in ints.enumerated() {
            fields.append(FieldSpec(name: "I\(i + 1)", kind: .integer(negativeRate: f.3), vocabulary: f.0, zipf: f.1,
                                    missingRate: f.2, linearScale: 0.15))
        }
        for (i, f) in cats.enumerated() {
            fields.append(FieldSpec(name: "C\(i + 1)", kind: .hex, vocabulary: f.0, zipf: f.1, missingRate: f.2, linearScale: 0.15))
        }
        // A few fields matter most, alone and in pairs: I1, I6, I11, C1, C2, C5, C6, C8, C14, C17.
        let important = [0, 5, 10, 13, 14, 17, 18, 20, 26, 29]
        for f in important { fields[f].linearScale = 0.35 }
        return (fields, important)
    }

    /// Avazu-like: the model fields are ingest's output columns (hour_of_day, day_of_week, C1, …).
    static func avazuFields() -> ([FieldSpec], [Int]) {
        func list(_ name: String, _ tokens: [String], _ zipf: Double) -> FieldSpec {
            FieldSpec(name: name, kind: .list(tokens), vocabulary: tokens.count, zipf: zipf, missingRate: 0, linearScale: 0.15)
        }
        func hex(_ name: String, _ v: Int, _ zipf: Double) -> FieldSpec {
            FieldSpec(name: name, kind: .hex, vocabulary: v, zipf: zipf, missingRate: 0, linearScale: 0.15)
        }
        func dec(_ name: String, _ v: Int, _ zipf: Double, digits: Int) -> FieldSpec {
            FieldSpec(name: name, kind: .decimal(digits: digits), vocabulary: v, zipf: zipf, missingRate: 0, linearScale: 0.15)
        }
        var fields: [FieldSpec] = [
            FieldSpec(name: "hour_of_day", kind: .derived, vocabulary: 24, zipf: 0, missingRate: 0, linearScale: 0.2),
            FieldSpec(name: "day_of_week", kind: .derived, vocabulary: 7, zipf: 0, missingRate: 0, linearScale: 0.1),
            list("C1", ["1005", "1002", "1010", "1012", "1007", "1001", "1008"], 2.5),
            list("banner_pos", ["0", "1", "7", "2", "4", "5", "3"], 2.5),
            hex("site_id", 4_737, 1.2), hex("site_domain", 7_745, 1.2), hex("site_category", 26, 1.6),
            hex("app_id", 8_552, 1.3), hex("app_domain", 559, 1.5), hex("app_category", 36, 1.6),
            hex("device_id", 2_686_408, 1.6), hex("device_ip", 6_729_486, 1.05), hex("device_model", 8_251, 1.1),
            list("device_type", ["1", "0", "4", "5", "2"], 2.5), list("device_conn_type", ["0", "2", "3", "5"], 2.2),
            dec("C14", 2_626, 1.1, digits: 5), list("C15", ["320", "300", "216", "728", "120", "1024", "480", "768"], 2.5),
            list("C16", ["50", "250", "36", "480", "90", "20", "768", "320", "1024"], 2.5), dec("C17", 435, 1.2, digits: 4),
            list("C18", ["0", "3", "2", "1"], 1.5), dec("C19", 68, 1.3, digits: 3), dec("C20", 172, 1.1, digits: 6),
            dec("C21", 60, 1.3, digits: 3),
        ]
        // Avazu's C20 is -1 (unknown) about half the time: a missing value in all but name.
        fields[21].missingRate = 0.47
        let important = [0, 3, 4, 6, 7, 9, 12, 15, 19]
        for f in important { fields[f].linearScale = 0.35 }
        return (fields, important)
    }

    // MARK: - Rows

    /// The planted logit of the drawn row, without the bias.
    private func score() -> Double {
        keys.withUnsafeBufferPointer { keys in
            smooth ? smoothX.withUnsafeBufferPointer { model.score(keys, smooth: $0) } : model.score(keys)
        }
    }

    /// Draws every field's rank and model key for row `index`.
    private mutating func draw(index: Int) {
        for f in 0..<fields.count {
            let spec = fields[f]
            if case .derived = spec.kind { continue }
            if smooth { smoothX[f] = .nan }
            if spec.missingRate > 0 && rng.uniform() < spec.missingRate {
                ranks[f] = 0
                keys[f] = spec.isInteger ? Int64.min : 0
                continue
            }
            let u = rng.uniform()
            let s = spec.zipf
            let x = abs(s - 1) < 1e-9 ? exp(u * log(Double(spec.vocabulary) + 1)) : pow(1 + u * (zipfTop[f] - 1), 1 / (1 - s))
            let rank = min(max(Int(x), 1), spec.vocabulary)
            ranks[f] = rank
            if case let .integer(negativeRate) = spec.kind {
                var v = Int64(rank - 1)
                if negativeRate > 0 && rng.uniform() < negativeRate { v = -Int64(1 + rank % 3) }
                integers[f] = v
                keys[f] = v > 2 ? Int64(floor(log(Double(v)) * log(Double(v)))) : v
                if smooth && v >= 0 { smoothX[f] = log1p(Double(v)) }
            } else {
                keys[f] = Int64(rank)
            }
        }
        if params.format == .avazu {
            let (hourOfDay, weekday) = avazuTime(index: index)
            keys[0] = Int64(hourOfDay + 1)
            keys[1] = Int64(weekday + 1)
        }
    }

    /// Hours since 2014-10-21 00:00 (a Tuesday) for row `index`: time runs with the rows.
    private func avazuHour(index: Int) -> Int {
        Int(Int64(index) * Int64(params.days * 24) / Int64(max(params.rows, 1)))
    }

    private func avazuTime(index: Int) -> (Int, Int) {
        let hours = avazuHour(index: index)
        return (hours % 24, (1 + hours / 24) % 7)  // weekday 0 = Monday; the 21st was a Tuesday
    }

    /// Writes one raw line; returns the true probability and the drawn label.
    mutating func writeRow(index: Int, to writer: AtomicFileWriter) throws -> (Double, Int) {
        draw(index: index)
        let logit = score() + model.bias
        let p = min(max(1 / (1 + exp(-logit)), 1e-9), 1 - 1e-9)
        let label = rng.uniform() < p ? 1 : 0
        try writer.withFreeSpace(atLeast: 4096) { out in
            var at = 0
            if params.format == .criteo {
                out[0] = UInt8(48 + label)
                at = 1
                for f in 0..<fields.count {
                    out[at] = 9
                    at += 1
                    at += token(f, into: out + at)
                }
            } else {
                at += formatDecimal(mix64(tokenSeed ^ UInt64(index)), into: out)  // id
                out[at] = 44; out[at + 1] = UInt8(48 + label); out[at + 2] = 44
                at += 3
                at += avazuTimestamp(index: index, into: out + at)
                for f in 2..<fields.count {
                    out[at] = 44
                    at += 1
                    if f == 21 && ranks[f] == 0 {
                        out[at] = 45; out[at + 1] = 49  // "-1"
                        at += 2
                    } else {
                        at += token(f, into: out + at)
                    }
                }
            }
            out[at] = 10
            return at + 1
        }
        return (p, label)
    }

    /// The raw token of field `f` for the drawn rank (nothing for missing).
    private func token(_ f: Int, into out: UnsafeMutablePointer<UInt8>) -> Int {
        let rank = ranks[f]
        if rank == 0 { return 0 }
        let h = mix64(tokenSeed ^ (UInt64(f) << 40) ^ UInt64(rank))
        switch fields[f].kind {
        case .hex:
            var v = UInt32(truncatingIfNeeded: h)
            for i in stride(from: 7, through: 0, by: -1) {
                let nibble = UInt8(v & 15)
                out[i] = nibble < 10 ? 48 + nibble : 87 + nibble
                v >>= 4
            }
            return 8
        case let .decimal(digits):
            var low: UInt64 = 1
            for _ in 1..<digits { low *= 10 }
            return formatDecimal(low + h % (low * 9), into: out)
        case let .list(tokens):
            var token = tokens[rank - 1]
            return token.withUTF8 { bytes in
                UnsafeMutableRawPointer(out).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                return bytes.count
            }
        case .integer:
            return formatInt(integers[f], into: out)
        case .derived:
            return 0
        }
    }

    private func avazuTimestamp(index: Int, into out: UnsafeMutablePointer<UInt8>) -> Int {
        // Civil date of 2014-10-21 plus whole days (Howard Hinnant's civil_from_days).
        let hours = avazuHour(index: index)
        let days = 16364 + hours / 24  // 2014-10-21 is day 16364 since 1970-01-01
        let z = days + 719468
        let era = z / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        let parts = [y % 100, m, d, hours % 24]
        for (i, v) in parts.enumerated() {
            out[2 * i] = UInt8(48 + v / 10)
            out[2 * i + 1] = UInt8(48 + v % 10)
        }
        return 8
    }
}

extension FieldSpec {
    var isInteger: Bool {
        if case .integer = kind { return true }
        return false
    }
}

/// Decimal digits of an unsigned value; returns their count.
func formatDecimal(_ value: UInt64, into out: UnsafeMutablePointer<UInt8>) -> Int {
    var digits = 1
    var v = value
    while v >= 10 { v /= 10; digits += 1 }
    v = value
    for i in stride(from: digits - 1, through: 0, by: -1) {
        out[i] = UInt8(48 + v % 10)
        v /= 10
    }
    return digits
}
