import Cluster
import Dataset
import Foundation
import Ingest
import LogIO
import StageKit

/// One ctr-hash run over rows or raw logs: count the training split, plan the layout,
/// featurize every split, write featurizer.json.
final class HashRun {
    let params: HashParams
    let source: InputSource
    let outputDirectory: String
    let reporter: Reporter
    let workers: Int
    /// Lines per chunk handed to a worker are about this many bytes.
    let chunkBytes: Int
    /// The ranks sharing the rows (docs/SCALING.md "Ingest and hash on MPI"); one rank alone
    /// reads every file whole.
    let cluster: Cluster
    /// Width (log2) of a field's count-min sketch once it overflows its exact share of
    /// `limit` values: about the memory of the table it replaces (4 rows of 2 × limit
    /// 16-bit counters, 16 bytes per value), within 2^16…2^22 counters per row.
    static func sketchWidthBits(limit: Int) -> Int {
        var bits = 16
        while bits < 22 && (1 << bits) < 2 * limit { bits += 1 }
        return bits
    }

    init(params: HashParams, source: InputSource, outputDirectory: String, reporter: Reporter, chunkBytes: Int,
         cluster: Cluster = .single) {
        self.cluster = cluster
        self.params = params
        self.source = source
        self.outputDirectory = outputDirectory
        self.reporter = reporter
        workers = params.workerCount
        self.chunkBytes = max(chunkBytes, 1)
    }

    func run() throws -> HashResult {
        let drafts = try makeDrafts()
        let countStart = CPUClock.now()
        let tally = try countTrainingSplit(drafts)
        let countEnd = CPUClock.now()
        var spec = try plan(drafts, tally)
        // Featurize through the same JSON a later ctr-predict will load, so training and
        // prediction cannot drift apart.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let featurizer = try Featurizer(spec: JSONDecoder().decode(FeaturizerSpec.self, from: encoder.encode(spec)),
                                        source: HashStage.join(outputDirectory, "featurizer.json"))
        var result = HashResult(outputDirectory: outputDirectory)
        result.countingBytes = tally.peakBytes
        result.residentBytes = resident?.usedBytes ?? 0
        var badByReason: [Int] = Array(repeating: 0, count: BadRowReason.allCases.count)
        var firstBad: String?
        for (split, paths) in source.files {
            if source.format == .raw && paths.isEmpty { continue }
            let out = try featurizeSplit(split, paths: paths, featurizer: featurizer)
            for (i, n) in out.badByReason.enumerated() { badByReason[i] += n }
            if firstBad == nil { firstBad = out.firstBad }
            result.splits.append(out.summary)
        }
        let featurizeEnd = CPUClock.now()
        result.timings = HashResult.Timings(countWall: countEnd.wall - countStart.wall, countCPU: countEnd.cpu - countStart.cpu,
                                            featurizeWall: featurizeEnd.wall - countEnd.wall,
                                            featurizeCPU: featurizeEnd.cpu - countEnd.cpu)
        if cluster.size > 1 {
            // Every rank's split counts, bad rows and first bad example: the same totals and
            // decisions on every rank.
            var mine: [Int64] = badByReason.map(Int64.init)
            for s in result.splits { mine += [Int64(s.rows), Int64(s.clicks), Int64(s.badRows), Int64(s.headerLines)] }
            let sums = try cluster.sumInts(mine)
            badByReason = sums[..<badByReason.count].map { Int($0) }
            for i in result.splits.indices {
                let at = badByReason.count + 4 * i
                result.splits[i].rows = Int(sums[at])
                result.splits[i].clicks = Int(sums[at + 1])
                result.splits[i].badRows = Int(sums[at + 2])
                result.splits[i].headerLines = Int(sums[at + 3])
            }
            let examples = try cluster.allgatherParts(Array((firstBad ?? "").utf8))
            firstBad = examples.first { !$0.isEmpty }.map { String(decoding: $0, as: UTF8.self) }
        }
        if source.format == .raw {
            let bad = badByReason.reduce(0, +)
            let read = result.splits.reduce(0) { $0 + $1.rows } + bad
            for (i, reason) in BadRowReason.allCases.enumerated() where badByReason[i] > 0 {
                result.badByReason[reason.rawValue] = badByReason[i]
            }
            if bad > 0 && Double(bad) > params.maxBadFraction * Double(read) {
                // Rank 0 reports; the others wait for the job to end.
                if cluster.rank != 0 { cluster.barrier() }
                throw FeaturizeError.tooManyBadRows(bad: bad, read: read, limit: params.maxBadFraction, firstExample: firstBad ?? "")
            }
        }
        spec.trainRows = result.splits.first { $0.split == Split.train.rawValue }?.rows ?? 0
        let path = HashStage.join(outputDirectory, "featurizer.json")
        var data = try encoder.encode(spec)
        data.append(10)
        // The caches record exactly these featurizer.json bytes, as ctr-train --featurizer would.
        let featurizerHash = data.withUnsafeBytes { XXHash64.hash($0) }
        // Every output is complete: rename them all into place together (a failed run above
        // leaves none of them), featurizer.json last: it is the completeness marker.
        for output in pending {
            try output.text?.commit()
            _ = try output.cache?.finish(featurizerHash: featurizerHash)
        }
        pending.removeAll()
        if cluster.size > 1 {
            // Every rank's shards are complete (a rank that failed has ended the job before
            // this vote): the old featurizer.json goes first, every rank renames its shards,
            // and rank 0 writes featurizer.json, the completeness marker, after all of them.
            _ = try cluster.allAgree(true)
            if cluster.isRoot { unlink(path) }
            cluster.barrier()
            try outputs.commit()
            cluster.barrier()
            if cluster.isRoot {
                if params.joinShards { try joinShards(realTargets: featurizer.spec.schema.hasRealTarget, featurizerHash: featurizerHash) }
                let writer = try AtomicFileWriter(path: path)
                try data.withUnsafeBytes { try writer.write($0) }
                try writer.commit()
            }
            cluster.barrier()
            result.featurizerPath = path
            result.spec = spec
            return result
        }
        let writer = try AtomicFileWriter(path: path, group: outputs)
        try data.withUnsafeBytes { try writer.write($0) }
        try writer.commit()
        try outputs.commit()
        result.featurizerPath = path
        result.spec = spec
        return result
    }

    // MARK: - Drafts: what each field will be, before counting

    struct FieldDraft {
        var name: String
        var kind: ValueType
        var transform: Transform
        var threshold: Int
        var bins: Int?
        var boundaries: [Double]?
        var seed: UInt32
        /// Needs its tokens counted (rare threshold, or distinct count for auto bins).
        var counted: Bool
        /// `spline`: knots requested, and the compression.
        var knots = 0
        var compression = SplineCompression.none
        /// `spline`: the log-square bucket beside the basis.
        var logSquare = false
        /// `spline`: where the knots were asked for (`--knots`, or the config's JSON path), for notes.
        var knotsSource = "--knots"
        /// `spline`: the seed of the field's value sample.
        var sampleSeed: UInt64 { UInt64(seed) | 0x5EED_0000_0000 }
    }

    func makeDrafts() throws -> [FieldDraft] {
        var config: FeatureConfig?
        if let path = params.config {
            let c = try FeatureConfig.load(path: path)
            try c.validate(columns: source.columns, schemaName: source.schema.name, source: path, numeric: params.numeric.transform)
            if params.sharedSpace != nil, let name = c.fields.keys.sorted().first(where: { c.fields[$0]?.bins != nil }) {
                throw FeaturizeError.configMismatch(path: path, jsonPath: "fields.\(name).bins",
                                                    detail: "per-field bins do not apply with --shared-space")
            }
            config = c
        }
        return source.columns.map { column in
            let o = config?.fields[column.name]
            let transform = o?.transform ?? (column.type == .categorical ? .hash : params.numeric.transform)
            let hashed = transform == .hash || transform == .logSquare
            let threshold = hashed ? (o?.rareThreshold ?? (transform == .hash ? params.rareThreshold : 0)) : 0
            let autoBins = params.sharedSpace == nil && o?.bins == nil && params.bins == .auto
            var draft = FieldDraft(name: column.name, kind: column.type, transform: transform, threshold: threshold,
                                   bins: o?.bins, boundaries: transform == .buckets ? o?.boundaries : nil,
                                   seed: Token.fieldSeed(name: column.name, seed: params.seed),
                                   counted: hashed && (threshold > 0 || autoBins))
            if transform == .spline {
                draft.knots = o?.knots ?? params.knots
                draft.compression = o?.compression ?? params.splineCompression
                draft.logSquare = o?.logSquare ?? params.numeric.logSquareBuckets
                if o?.knots != nil, let path = params.config { draft.knotsSource = "fields.\(column.name).knots in \(path)" }
            }
            return draft
        }
    }

    // MARK: - Counting the training split

    struct Tally {
        /// Per field, in field order; nil when the field was not counted.
        var summaries: [FieldCountSummary?]
        var missing: [Int]
        var present: [Int]
        var minimum: [Double]
        var maximum: [Double]
        var rows: Int
        var ran: Bool
        var peakBytes: Int
        /// The spline fields' value samples (nil without spline fields or training rows).
        var samples: SplineSamples?
    }

    /// Exact-count budget per counted field: the total limit shared out in proportion to
    /// need (stats.json's distinct estimates when known), deterministically.
    func exactLimits(_ drafts: [FieldDraft]) -> [Int] {
        var limits = Array(repeating: 0, count: drafts.count)
        let counted = drafts.indices.filter { drafts[$0].counted && drafts[$0].threshold > 0 }
        guard !counted.isEmpty else { return limits }
        func need(_ f: Int) -> Int {
            guard let e = source.stats?.columns[f].distinctEstimate else { return Int.max }
            return e + e / 8 + 1024
        }
        let order = counted.sorted { (need($0), $0) < (need($1), $1) }
        var remaining = params.countLimit
        for (i, f) in order.enumerated() {
            let share = remaining / (order.count - i)
            limits[f] = max(16, min(need(f), share))
            remaining -= min(need(f), share)
        }
        return limits
    }

    /// Bytes a `SlotTable` may take per value while growing (at most 3/4 full, old and new
    /// slots side by side during a resize, 16-byte slots).
    static let bytesPerCountedValue = 64

    /// Most memory the counting tables of fields with these exact-count limits may take:
    /// the slot tables and, once a field overflows its limit, its count-min sketch (nil: more
    /// than `Int.max`).
    static func countingBytes(limits: [Int]) -> Int? {
        var total = 0
        for limit in limits where limit > 0 {
            guard let table = MemoryBudget.product([limit + 1, bytesPerCountedValue]) else { return nil }
            let sketch = (CountMinSketch.depth << sketchWidthBits(limit: limit)) * 2
            let (sum, overflow) = total.addingReportingOverflow(table + sketch)
            if overflow { return nil }
            total = sum
        }
        return total
    }

    func countTrainingSplit(_ drafts: [FieldDraft]) throws -> Tally {
        let needsPass = drafts.contains { $0.counted || $0.transform == .scaled || $0.transform == .spline }
        let samples: SplineSamples? = drafts.contains { $0.transform == .spline }
            ? SplineSamples(drafts.map { d in
                d.transform == .spline ? ValueReservoir(seed: d.sampleSeed) : nil
            })
            : nil
        let limits = exactLimits(drafts)
        let budget = HashRun.countingBytes(limits: limits)
        guard MemoryBudget.fits(budget) else {
            throw FeaturizeError.badOption(option: "--count-limit", detail: "found \(params.countLimit), which lets the exact "
                + "counting tables grow to \(MemoryBudget.describe(budget)), more than \(MemoryBudget.machineDescription); "
                + "expected a lower --count-limit (a value counted exactly takes up to \(HashRun.bytesPerCountedValue) bytes)")
        }
        let counts = FieldCounts(drafts.indices.map { f in
            FieldCount(counted: drafts[f].counted, threshold: drafts[f].threshold, exactLimit: limits[f],
                       sketchWidthBits: HashRun.sketchWidthBits(limit: limits[f]),
                       integerTokens: drafts[f].transform == .logSquare && drafts[f].kind == .integer)
        })
        var rows = 0
        if needsPass, let paths = source.files.first(where: { $0.split == .train })?.paths {
            // Give each worker a share of the fields, heaviest first, to the least loaded worker.
            func cost(_ d: FieldDraft) -> Int {
                d.counted ? (d.transform == .hash ? 4 : 3) : d.transform == .scaled || d.transform == .spline ? 2 : 1
            }
            let n = min(workers, drafts.count)
            var assignment = Array(repeating: [Int](), count: n)
            var load = Array(repeating: 0, count: n)
            for f in drafts.indices.sorted(by: { (cost(drafts[$0]), -$0) > (cost(drafts[$1]), -$1) }) {
                let w = load.indices.min { (load[$0], $0) < (load[$1], $1) }!
                assignment[w].append(f)
                load[w] += cost(drafts[f])
            }
            let resident = try makeResident(drafts, counts: counts, workers: n)
            let countWorkers = (0..<n).map { w in
                CountWorker(fields: assignment[w].sorted(), drafts: drafts, counts: counts, countsRows: w == 0, samples: samples,
                            keepsResident: resident?.arena(w))
            }
            let preparer = try RowPreparer(source: source)
            let slots = (0..<(n + 2)).map { _ in LineChunk(capacity: chunkBytes + 4096) }
            let pipeline = ChunkPipeline(slots: slots, workers: n, mode: .broadcast)
            var files = try FileSequence(shares: LineRanges.shares(of: paths, cluster: cluster).shares, chunkBytes: chunkBytes,
                                         rawSchema: source.format == .raw ? source.schema : nil)
            let meter = reporter.meter("ctr-hash counting train", totalBytes: files.totalBytes)
            try pipeline.run(produce: { chunk in
                                guard try files.fill(chunk, meter: meter) else { return false }
                                preparer.prepare(chunk)  // split once here, not once per worker
                                chunk.residentIndex = resident?.admit(chunk) ?? -1
                                return true
                             },
                             process: { chunk, w in try countWorkers[w].process(chunk) },
                             consume: { _ in },
                             earliest: earliestError)
            rows = countWorkers[0].rows
            for worker in countWorkers { worker.finish(rows: rows) }
            if let resident {
                for worker in countWorkers {
                    for (field, chunks) in worker.takeResident() { resident.adopt(field: field, chunks: chunks) }
                }
                if resident.complete { self.resident = resident } else { resident.release() }
            }
            if cluster.size > 1 {
                // Every rank's counts merged in rank order on every rank: the same featurizer everywhere.
                rows = Int(try cluster.sumInts([Int64(rows)])[0])
                var message = ClusterMessage()
                for f in 0..<counts.count { counts.fields[f].encode(into: &message) }
                var readers = try cluster.allgatherParts(message.bytes).map { ClusterMessageReader($0) }
                for f in 0..<counts.count {
                    var merged = counts.fields[f].emptyCopy()
                    for r in readers.indices { try merged.absorb(&readers[r]) }
                    counts.fields[f].release()
                    counts.fields[f] = merged
                }
                if let samples { try Self.mergeSamples(samples, cluster: cluster, drafts: drafts) }
            }
            if meter.live { meter.finish("counted \(LogIO.ProgressMeter.grouped(rows)) training rows") }
        }
        let fields = UnsafeBufferPointer(start: counts.fields, count: counts.count)
        let summaries = fields.map { $0.summary() }
        return Tally(summaries: summaries, missing: fields.map(\.missing), present: fields.map(\.present),
                     minimum: fields.map(\.minimum), maximum: fields.map(\.maximum), rows: rows,
                     ran: needsPass, peakBytes: summaries.reduce(0) { $0 + ($1?.peakBytes ?? 0) }, samples: samples)
    }

    /// The training split's values kept by the counting pass for the featurizing pass
    /// (`--resident-mb`), while it has not been featurized.
    private var resident: ResidentRows?

    /// A `ResidentRows` for the counting pass when the fields, input and budget allow one.
    private func makeResident(_ drafts: [FieldDraft], counts: FieldCounts, workers: Int) throws -> ResidentRows? {
        guard params.residentMb > 0 else { return nil }
        let budget = MemoryBudget.product([params.residentMb, 1_000_000])
        guard MemoryBudget.fits(budget) else {
            throw FeaturizeError.badOption(option: "--resident-mb", detail: "found \(params.residentMb), "
                + "\(MemoryBudget.describe(budget)), more than \(MemoryBudget.machineDescription); expected less (or 0: read train twice)")
        }
        guard source.format == .rows, !source.schema.hasRealTarget, cluster.size == 1,
              let kinds = CountWorker.residentKinds(drafts: drafts, counts: counts) else { return nil }
        return ResidentRows(kinds: kinds, budgetBytes: budget!, workers: workers)
    }

    /// The spline fields' samples merged across ranks (in rank order, on every rank): the
    /// same knots on every rank, and a single process's while the samples hold every value.
    private static func mergeSamples(_ samples: SplineSamples, cluster: Cluster, drafts: [FieldDraft]) throws {
        var message = ClusterMessage()
        for f in 0..<samples.count {
            guard let reservoir = samples.reservoir(f) else { continue }
            message.append(reservoir.seen)
            message.append(reservoir.values.count)
            for v in reservoir.values { message.append(v) }
        }
        var readers = try cluster.allgatherParts(message.bytes).map { ClusterMessageReader($0) }
        for f in 0..<samples.count {
            guard samples.reservoir(f) != nil else { continue }
            var parts: [(seen: Int, values: [Double])] = []
            for r in readers.indices {
                let seen = try readers[r].count()
                let n = try readers[r].count()
                parts.append((seen, try (0..<n).map { _ in try readers[r].double() }))
            }
            samples.replace(f, with: .merging(parts, seed: drafts[f].sampleSeed))
        }
    }

    /// The error of the earliest line among the workers' first errors (on one line, the
    /// first column): the same whatever the number of workers.
    func earliestError(_ errors: [(sequence: Int, error: Error)]) -> Error? {
        let columns = source.columns.map(\.name)
        func place(_ e: Error) -> (Int, Int) {
            switch e as? FeaturizeError {
            case let .badRow(_, line, _)?: return (line, -1)
            case let .badValue(_, line, column, _, _)?: return (line, columns.firstIndex(of: column) ?? 0)
            default: return (0, -1)
            }
        }
        return errors.min { a, b in
            let (la, ca) = place(a.error), (lb, cb) = place(b.error)
            return (a.sequence, la, ca) < (b.sequence, lb, cb)
        }?.error
    }

    // MARK: - Layout

    func plan(_ drafts: [FieldDraft], _ tally: Tally) throws -> FeaturizerSpec {
        var fields: [FieldSpec] = []
        var offset = 0
        let shared = params.sharedSpace
        var totalDistinct = 0
        var fewerKnots: [String] = []
        for (f, d) in drafts.enumerated() {
            let summary = tally.summaries[f]
            var distinct = 0
            var exact = false
            if let summary {
                distinct = summary.distinct
                exact = summary.exact
            } else if let stats = source.stats, d.transform == .hash || d.transform == .logSquare {
                distinct = stats.columns[f].distinctEstimate
            } else if d.transform == .buckets {
                distinct = (d.boundaries?.count ?? 0) + 1
            } else if d.transform == .scaled {
                distinct = 1
                exact = true
            }
            var knots: [Double]?
            var buckets: LogSquareBuckets?
            if d.transform == .spline {
                var sample = tally.samples?.reservoir(f)?.values ?? []
                var k = Spline.quantileKnots(&sample, count: d.knots)
                if k.isEmpty { k = [0] }   // no value in the training split: one basis function
                if k.count < d.knots {
                    let what = k.count == 1 ? "1 knot (\(sample.isEmpty ? "no value" : "one distinct value"): one basis function, 1 for every value)"
                        : "\(k.count) knots"
                    fewerKnots.append("\(d.name): \(what) of \(d.knots) asked by \(d.knotsSource)")
                }
                knots = k
                distinct = Spline.basisCount(knots: k.count)
                if d.logSquare {
                    let b = LogSquareBuckets.covering(minimum: tally.minimum[f], maximum: tally.maximum[f], present: tally.present[f] > 0)
                    buckets = b
                    distinct += b.count
                }
                exact = true
            }
            totalDistinct += distinct
            var bins: Int
            switch d.transform {
            case .scaled: bins = 2
            case .spline: bins = ReservedSlot.count + distinct
            case .buckets: bins = ReservedSlot.count + (d.boundaries?.count ?? 0) + 1
            case .hash, .logSquare:
                if let b = d.bins {
                    bins = b
                } else if case .fixed(let n) = params.bins {
                    bins = n
                } else {
                    bins = ReservedSlot.count + min(params.maxBins, HashRun.nextPowerOfTwo(max(2 * distinct, 1)))
                }
            }
            if let shared { bins = shared }
            var minimum: Double?, maximum: Double?
            if d.transform == .scaled {
                minimum = tally.present[f] > 0 ? tally.minimum[f] : 0
                maximum = tally.present[f] > 0 ? tally.maximum[f] : 0
            }
            let missingShare: Double? = tally.ran && tally.rows > 0 ? Double(tally.missing[f]) / Double(tally.rows)
                : source.stats?.columns[f].missingRate
            var rareShare: Double?
            if let s = summary, d.threshold > 0, let rare = s.rareOccurrences, s.occurrences > 0 {
                rareShare = Double(rare) / Double(s.occurrences)
            } else if d.threshold == 0 && (d.transform == .hash || d.transform == .logSquare) {
                rareShare = 0
            }
            let kept = d.threshold > 0 ? (summary?.kept ?? []) : nil
            var collision: Double?
            if shared == nil {
                switch d.transform {
                case .buckets, .scaled, .spline: collision = 0
                case .hash, .logSquare:
                    if let kept {
                        collision = HashRun.collisionRate(kept: kept, slots: bins - ReservedSlot.count)
                    } else if summary != nil || source.stats != nil {
                        collision = HashRun.expectedCollisionRate(distinct: distinct, slots: bins - ReservedSlot.count)
                    }
                }
            }
            fields.append(FieldSpec(name: d.name, kind: d.kind, transform: d.transform, offset: shared == nil ? offset : 0,
                                    bins: bins, rareThreshold: d.threshold, kept: kept, boundaries: d.boundaries,
                                    min: minimum, max: maximum, distinct: distinct, distinctExact: exact,
                                    collisionRate: collision, rareShare: rareShare, missingShare: missingShare,
                                    knots: knots, compression: d.transform == .spline ? d.compression : nil,
                                    logSquare: buckets))
            offset += bins
        }
        if !fewerKnots.isEmpty {
            reporter.note("ctr-hash: spline fields with fewer distinct quantiles than knots requested (repeated values) "
                          + "use fewer knots: " + fewerKnots.joined(separator: "; "))
        }
        if let shared {
            // Every token of every field shares one space: the chance that a token meets another.
            let rate = HashRun.expectedCollisionRate(distinct: totalDistinct + 2 * drafts.count, slots: shared)
            for f in fields.indices { fields[f].collisionRate = rate }
        }
        let indexCount = shared ?? offset
        guard indexCount <= Int(Int32.max) else {
            throw FeaturizeError.indexSpaceTooLarge(total: indexCount, limit: Int(Int32.max))
        }
        return FeaturizerSpec(schema: source.schema, seed: params.seed, layout: shared == nil ? .perField : .shared,
                              indexCount: indexCount, fields: fields, negKeepRate: source.stats?.negKeepRate ?? 1,
                              trainRows: tally.rows)
    }

    static func nextPowerOfTwo(_ n: Int) -> Int {
        var p = 1
        while p < n { p <<= 1 }
        return p
    }

    /// The fraction of kept values whose slot (h1 mod slots) holds another kept value: exact.
    /// Memory follows the kept values, not the range: a field of 2^31 bins counts per slot
    /// only when the table is small next to them, else sorts the slots of the kept values.
    static func collisionRate(kept: [UInt64], slots: Int) -> Double {
        guard kept.count > 1, slots > 0 else { return 0 }
        func slot(_ fp: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: fp >> 32) % UInt32(truncatingIfNeeded: slots) }
        var colliding = 0
        if slots <= max(1 << 20, 4 * kept.count) {
            var bySlot = [UInt32](repeating: 0, count: slots)
            for fp in kept { bySlot[Int(slot(fp))] += 1 }
            for c in bySlot where c > 1 { colliding += Int(c) }
        } else {
            let sorted = kept.map(slot).sorted()
            var run = 1
            for i in 1...sorted.count {
                if i < sorted.count && sorted[i] == sorted[i - 1] {
                    run += 1
                } else {
                    if run > 1 { colliding += run }
                    run = 1
                }
            }
        }
        return Double(colliding) / Double(kept.count)
    }

    /// The expected fraction of `distinct` uniformly hashed values that share a slot:
    /// `1 - (1 - 1/slots)^(distinct - 1)`.
    static func expectedCollisionRate(distinct: Int, slots: Int) -> Double {
        guard distinct > 1, slots > 0 else { return 0 }
        return 1 - exp(Double(distinct - 1) * log1p(-1 / Double(slots)))
    }

    // MARK: - Featurizing a split

    /// Finished outputs waiting to be renamed into place together.
    struct PendingOutput {
        let text: AtomicFileWriter?
        let cache: CacheWriter?
    }
    private var pending: [PendingOutput] = []
    /// The run's one commit point (featurizer.json last).
    private let outputs = CommitGroup()

    struct SplitOutcome {
        var summary: HashResult.SplitOutput
        var badByReason: [Int]
        var firstBad: String?
    }

    /// The name (without extension) of a split's outputs: `train`, or rank r's shard of N
    /// ranks `train-0000r-of-0000N` (docs/FORMATS.md "Shards").
    static func outputName(split: Split, rank: Int, ranks: Int) -> String {
        guard ranks > 1 else { return split.rawValue }
        func five(_ n: Int) -> String { let s = String(n); return String(repeating: "0", count: max(0, 5 - s.count)) + s }
        return "\(split.rawValue)-\(five(rank))-of-\(five(ranks))"
    }

    /// `--join-shards` (rank 0, after every rank committed its shards): each split's shards,
    /// in rank order, become the one file a single process writes (`train.cache` by
    /// re-appending the shards' rows, which gives the same row groups and bytes; `train.ffm`
    /// by concatenating the text), all renamed into place together, then the shards removed.
    /// featurizer.json, written after this, stays the completeness marker.
    func joinShards(realTargets: Bool, featurizerHash: UInt64) throws {
        let joined = CommitGroup()
        var shardPaths: [String] = []
        for (split, paths) in source.files where !(source.format == .raw && paths.isEmpty) {
            let shards = (0..<cluster.size).map { HashStage.join(outputDirectory, HashRun.outputName(split: split, rank: $0, ranks: cluster.size)) }
            if params.cache {
                let writer = try CacheWriter(path: HashStage.join(outputDirectory, split.rawValue + ".cache"), group: joined, realLabels: realTargets)
                let block = CacheBlock()
                for shard in shards.map({ $0 + ".cache" }) {
                    let reader = try CacheReader(path: shard)
                    for g in 0..<reader.info.groupCount {
                        try reader.read(groups: g..<(g + 1), into: block)
                        for i in 0..<block.rowCount { try writer.append(block.row(i)) }
                    }
                    shardPaths.append(shard)
                }
                _ = try writer.finish(featurizerHash: featurizerHash)
            }
            if params.text {
                let writer = try AtomicFileWriter(path: HashStage.join(outputDirectory, split.rawValue + ".ffm"), group: joined)
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
                defer { buffer.deallocate() }
                for shard in shards.map({ $0 + ".ffm" }) {
                    let input = try PlainFileSource(path: shard)
                    while true {
                        let n = try input.read(into: buffer, linesSoFar: 0)
                        if n == 0 { break }
                        try writer.write(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
                    }
                    shardPaths.append(shard)
                }
                try writer.commit()
            }
        }
        try joined.commit()
        for shard in shardPaths { unlink(shard) }
        reporter.note("joined the \(cluster.size) ranks' shards of each split into one file (--join-shards)")
    }

    func featurizeSplit(_ split: Split, paths: [String], featurizer: Featurizer) throws -> SplitOutcome {
        let name = HashRun.outputName(split: split, rank: cluster.rank, ranks: cluster.size)
        let textPath = params.text ? HashStage.join(outputDirectory, "\(name).ffm") : nil
        let cachePath = params.cache ? HashStage.join(outputDirectory, "\(name).cache") : nil
        let text = try textPath.map { try AtomicFileWriter(path: $0, group: outputs) }
        let realTargets = featurizer.spec.schema.hasRealTarget
        let cache = try cachePath.map { try CacheWriter(path: $0, group: outputs, realLabels: realTargets) }
        let featureWorkers = try (0..<workers).map { _ in
            try FeaturizeWorker(featurizer: featurizer, source: source, writeText: params.text)
        }
        let slots = (0..<(workers + 2)).map { _ in FeaturizeSlot(capacity: chunkBytes + 4096) }
        let pipeline = ChunkPipeline(slots: slots, workers: workers, mode: .ordered)
        var files = try FileSequence(shares: LineRanges.shares(of: paths, cluster: cluster).shares, chunkBytes: chunkBytes,
                                     rawSchema: source.format == .raw ? source.schema : nil)
        let meter = reporter.meter("ctr-hash \(split.rawValue)", totalBytes: files.totalBytes)
        var rows = 0, clicks = 0, headers = 0
        var bad = Array(repeating: 0, count: BadRowReason.allCases.count)
        var firstBad: String?
        // Train from the values the counting pass kept, when it kept them all.
        let resident = split == .train ? self.resident : nil
        var nextResident = 0
        try pipeline.run(
            produce: { slot in
                guard let resident else { return try files.fill(slot.chunk, meter: meter) }
                guard nextResident < resident.chunkCount else { return false }
                slot.residentChunk = nextResident
                nextResident += 1
                return true
            },
            process: { slot, w in
                if let resident {
                    featureWorkers[w].process(slot, resident: resident, chunk: slot.residentChunk)
                } else {
                    try featureWorkers[w].process(slot)
                }
            },
            consume: { slot in
                if let text { try text.write(UnsafeRawBufferPointer(start: slot.text, count: slot.textUsed)) }
                let chunk = slot.chunk
                if let cache {
                    for r in 0..<slot.rows {
                        let start = slot.rowStarts[r]
                        try cache.append(label: realTargets ? chunk.targets[r] : Float(slot.labels[r]),
                                         features: UnsafeBufferPointer(start: slot.features + start, count: slot.rowStarts[r + 1] - start))
                    }
                }
                rows += slot.rows
                if !realTargets { for r in 0..<slot.rows { clicks += Int(slot.labels[r]) } }
                for (i, n) in chunk.badByReason.enumerated() { bad[i] += n }
                if firstBad == nil { firstBad = chunk.firstBad }
            })
        headers = files.headerLines
        if let resident {
            resident.release()
            self.resident = nil
            if meter.live { meter.update(rows: rows, bytes: files.totalBytes) }
        }
        // Renamed into place only once every split is done (see `run`).
        pending.append(PendingOutput(text: text, cache: cache))
        if meter.live { meter.finish("\(split.rawValue): \(LogIO.ProgressMeter.grouped(rows)) rows") }
        return SplitOutcome(summary: .init(split: split.rawValue, rows: rows, clicks: clicks, badRows: bad.reduce(0, +),
                                           headerLines: headers, textPath: textPath, cachePath: cachePath),
                            badByReason: bad, firstBad: firstBad)
    }
}

/// The files of one split read one after the other, in chunks of whole lines: rows files
/// through `LineReader`, raw logs through ctr-ingest's `RawLogReader`.
struct FileSequence {
    let shares: [InputShare]
    let chunkBytes: Int
    /// Raw logs: the parser whose schema says how headers look.
    let rawParser: RowParser?
    private var index = 0
    private var rows: LineReader?
    private var raw: RawLogReader?
    private var doneBytes: Int64 = 0
    let totalBytes: Int64
    private(set) var currentPath = ""
    /// Lines of the current file before the current share (a byte range of a rows file).
    private var lineOffset = 0
    private var linesRead = 0
    /// Header lines skipped in the raw files.
    private(set) var headerLines = 0

    init(paths: [String], chunkBytes: Int, rawSchema: Schema?) throws {
        try self.init(shares: paths.enumerated().map { InputShare(fileIndex: $0, path: $1) }, chunkBytes: chunkBytes, rawSchema: rawSchema)
    }

    /// Whole files or byte ranges of them (a rank's share, `LineRanges.shares`).
    init(shares: [InputShare], chunkBytes: Int, rawSchema: Schema?) throws {
        self.shares = shares
        self.chunkBytes = chunkBytes
        rawParser = try rawSchema.map { try RowParser(schema: $0) }
        var total: Int64 = 0
        for share in shares {
            if let range = share.range {
                total += range.upperBound - range.lowerBound
                continue
            }
            var info = stat()
            if stat(share.path, &info) == 0 { total += Int64(info.st_size) }
        }
        totalBytes = total
    }

    var bytesRead: Int64 { doneBytes + (rows?.fileBytesRead ?? raw?.fileBytesRead ?? 0) }

    /// Fills `chunk` with the next lines of the current file (a chunk never spans two
    /// files); false when every file is done.
    mutating func fill(_ chunk: LineChunk, meter: ProgressMeter) throws -> Bool {
        while true {
            if rows == nil && raw == nil {
                guard index < shares.count else { return false }
                let share = shares[index]
                currentPath = share.path
                lineOffset = 0
                if let range = share.range {
                    if let rawParser {
                        raw = try RawLogReader(path: currentPath, parser: rawParser, range: range, firstLine: share.firstLine)
                    } else {
                        rows = LineReader(source: try RangeFileSource(path: currentPath, range: range), path: currentPath, bufferSize: 1 << 20)
                        lineOffset = share.firstLine - 1
                    }
                } else if let rawParser {
                    raw = try RawLogReader(path: currentPath, parser: rawParser)
                } else {
                    rows = try LineReader(path: currentPath)
                }
                index += 1
            }
            let filled = try rows.map { try chunk.fill(from: $0, target: chunkBytes) }
                ?? chunk.fill(from: raw!, target: chunkBytes)
            if filled {
                chunk.path = currentPath
                chunk.firstLine += lineOffset
                linesRead += chunk.lineCount
                if meter.live {
                    // ProgressMeter looks at the clock once per 16k calls: one call per line read.
                    for _ in 0..<chunk.lineCount { meter.update(rows: linesRead, bytes: bytesRead) }
                }
                return true
            }
            doneBytes += rows?.fileBytesRead ?? raw!.fileBytesRead
            headerLines += raw?.headerLines ?? 0
            rows = nil
            raw = nil
        }
    }
}

/// Wall-clock and process CPU time, for the phase timings in the report.
struct CPUClock {
    var wall: Double
    var cpu: Double

    static func now() -> CPUClock {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        let cpu = Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
        return CPUClock(wall: Double(DispatchTime.now().uptimeNanoseconds) / 1e9, cpu: cpu)
    }
}
