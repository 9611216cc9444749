#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Cluster
import Dataset
import Featurize
import Foundation
import LogIO
import StageKit

/// Training: `TrainStage.run` is what `ctr-train` and ctr-pipeline call.
public enum TrainStage: Stage {
    /// Trains a model on `inputs.train` (libffm text, plain or gzip, or a binary cache) and writes it.
    ///
    /// Each epoch visits the rows in a shuffled order from the seed (blocks of the cache in
    /// shuffled order, rows shuffled within each block; deepfm: one permutation of all rows
    /// when they are kept in memory), `threads` threads updating the
    /// shared weights without locks (hogwild). With a validation set, each epoch reports its
    /// log loss and AUC; with patience, training stops after that many epochs without
    /// improvement and the best epoch's weights (checkpointed to disk, not kept in memory)
    /// become the model.
    /// - Parameter reporter: receives the per-epoch table and notes; a live progress bar on a terminal.
    public static func run(_ params: TrainParams, inputs: TrainInputs, outputs: TrainOutputs,
                           reporter: Reporter) throws -> TrainResult {
        try run(params, inputs: inputs, outputs: outputs, reporter: reporter, cluster: .single)
    }

    /// Training data parallel over the ranks of `cluster` (every rank calls it with the same
    /// arguments): each rank trains on its share of the training blocks (`rankShare`: row
    /// groups split by rank, in order, or whole files) with its own `threads` hogwild threads, and
    /// every `syncRows` rows and at the end of each epoch the ranks merge their changes
    /// (`RankSync`, `FFMModel.mergeChangesAcrossRanks`). Validation
    /// scores are computed on each rank's share and gathered, so every rank sees the same
    /// figures and takes the same early-stopping decision. Rank 0 reports and writes the model
    /// and the log; the other ranks write nothing. One rank is exactly `run` without a cluster.
    public static func run(_ params: TrainParams, inputs: TrainInputs, outputs: TrainOutputs,
                           reporter givenReporter: Reporter, cluster: Cluster) throws -> TrainResult {
        let reporter = cluster.isRoot ? givenReporter : Reporter.silent
        try params.validated(params.problems() + params.inputProblems(hasValidation: inputs.valid != nil))
        let output = outputs.model ?? (lastPathComponent(inputs.train) + ".model")
        let outputDirectory = directoryPart(output)
        let scratchDirectory = outputDirectory.isEmpty ? "." : outputDirectory

        let squared = params.loss == .squared
        let train = try TrainingSet(paths: TrainingSet.expand(inputs.train), scratchDirectory: scratchDirectory, realLabels: squared,
                                    log: reporter.note)
        guard train.rowCount > 0 else { throw FFMError.emptyTrainingSet(path: inputs.train) }
        let valid = try inputs.valid.map {
            try TrainingData.open($0, scratchDirectory: scratchDirectory, tag: "valid", realLabels: squared, log: reporter.note).reader
        }
        let regression = try regressionSetup(params, train: train, valid: valid, validPath: inputs.valid)
        var metadata = ModelMetadata()
        metadata.eta = params.eta
        metadata.lambda = params.lambda
        metadata.seed = params.seed
        if let regression { metadata.sections.append(regression.info.section) }
        metadata.featurizerHash = try featurizerHash(featurizer: inputs.featurizer,
                                                     caches: zip(train.paths, train.readers).map { ($0, $1.info.featurizerHash) }
                                                         + [inputs.valid.map { ($0, valid!.info.featurizerHash) }].compactMap { $0 })

        let blockBytes = params.blockMb << 20
        let trainBlocks = train.blocks(targetBytes: blockBytes)
        let myBlocks = train.share(of: trainBlocks, rank: cluster.rank, size: cluster.size)
        let myRows = myBlocks.reduce(0) { $0 + train.rowCount(of: $1) }
        let start = try startingModel(params, initModel: inputs.initModel, train: train, myBlocks: myBlocks,
                                      valid: valid, cluster: cluster, metadata: &metadata)
        let model = start.model
        // Squared loss from scratch: the bias starts at the mean target (ratings are far from 0).
        if let regression, inputs.initModel == nil, model.hasLinear { model.bias[0] = Float(regression.meanTarget) }
        reporter.note("\(params.model.rawValue)\(params.model == .hofm ? " (degree \(params.degree))" : ""): \(ProgressMeter.grouped(train.rowCount)) rows\(train.paths.count > 1 ? " in \(train.paths.count) files" : ""), n \(ProgressMeter.grouped(start.n)), m \(start.m), k \(params.factors), "
            + "\(ProgressMeter.grouped(model.rowCount)) indices in training, "
            + String(format: "%.1f MB of weights", Double(model.rowCount) * Double(model.rowStride * 4) / 1e6)
            + ", \(params.threads) thread\(params.threads == 1 ? "" : "s")"
            + (cluster.size > 1 ? " on each of \(cluster.size) ranks" : ""))
        let syncRows = RankSync.syncRows(params.syncRows, globalRows: train.rowCount, ranks: cluster.size)
        let syncsPerEpoch = RankSync.syncsPerEpoch(globalRows: train.rowCount, ranks: cluster.size, syncRows: syncRows)
        let syncPoints = RankSync.points(rows: myRows, syncsPerEpoch: syncsPerEpoch)
        let momentum = params.rankMomentum
            ?? RankSync.momentum(rowsApart: RankSync.rowsApart(syncRows: syncRows, globalRows: train.rowCount, ranks: cluster.size))
        if cluster.size > 1 {
            let shares = train.paths.count >= cluster.size ? "whole files" : "row groups"
            reporter.note("\(cluster.size) ranks train on disjoint shares of \(shares) (rank 0: \(ProgressMeter.grouped(myRows)) rows); "
                + "their changes merged \(syncsPerEpoch == 1 ? "after every epoch" : "\(syncsPerEpoch) times an epoch (--sync-rows \(syncRows)\(params.syncRows == nil ? ", the default for this data" : "")), the last at its end"), "
                + String(format: "at most %.1f MB put in per rank per sync (only the rows used since the last one when they are at most %.0f%% of the model)",
                         Double(4 * model.synchronizedFloats) / 1e6, 100 * RankSync.sparseShare)
                + "; block momentum " + String(format: "%.2f", momentum) + (params.rankMomentum == nil ? " (the default for these rows between syncs)" : ""))
        }

        let patience = params.effectivePatience
        let checkpointPrefix = ".\(lastPathComponent(output)).best-"
        if patience > 0 { TemporaryFiles.removeStale(in: scratchDirectory, prefix: checkpointPrefix) }
        let checkpoint = patience > 0 && cluster.isRoot ? scratchDirectory + "/" + checkpointPrefix + "\(getpid())" : nil
        let checkpointRegistration = checkpoint.map { TemporaryFiles.register($0) }
        defer { if let checkpoint { unlink(checkpoint); checkpointRegistration?.release() } }

        let engine = Engine(model: model, threads: params.threads, eta: Float(params.eta), lambda: Float(params.lambda))
        engine.loss = params.loss
        // (One epoch reads the rows once: nothing to keep them for.)
        engine.residentBytes = params.epochs > 1 ? params.residentMb << 20 : 0
        if (model.network != nil || params.epochs > 1) && params.residentMb > 0 {
            let need = Double(Engine.residentEstimate(train, blocks: myBlocks)) / Double(1 << 20)
            let kept = need <= Double(params.residentMb)
            let size = String(format: "about %.0f MB one-hot, %@ --resident-mb %d", need, kept ? "of" : "more than", params.residentMb)
            reporter.note(model.network != nil
                ? (kept ? "training rows kept in memory, one permutation of all of them per epoch (\(size))"
                        : "training rows not kept in memory (\(size)): each epoch takes the cache's blocks in shuffled order, the rows shuffled within each")
                : (kept ? "training rows kept in memory after the first epoch (\(size))"
                        : "training rows not kept in memory (\(size)): the cache is read every epoch"))
            if let valid, params.epochs > 1 {
                // What the training rows leave of --resident-mb (Engine.scores decides with the bytes they took).
                let room = Double(params.residentMb) - (kept ? need : 0)
                let want = Engine.residentEstimate(valid, rows: valid.info.rowCount) / Double(1 << 20)
                reporter.note(want <= room
                    ? String(format: "validation rows kept in memory after the first epoch (about %.0f MB one-hot)", want)
                    : String(format: "validation rows not kept in memory (about %.0f MB one-hot, more than the %.0f MB --resident-mb %d leaves): the cache is read every epoch",
                             want, max(room, 0), params.residentMb))
            }
        }
        if let net = model.network {
            try deepSetup(params, net: net, engine: engine, rows: train.rowCount, cluster: cluster, reporter: reporter)
        } else {
            engine.hot = try HotRows.make(model: model, data: train.readers[0], threads: params.threads)
        }
        let rankSync = RankSync(cluster: cluster, model: model, threads: params.threads, hot: engine.hot, merge: params.rankMerge,
                                 momentum: Float(momentum))
        if let hot = engine.hot { reporter.note("\(hot.count) frequent rows get per-thread copies, merged every \(HotRows.firstSyncInterval) rows at first, then up to every \(HotRows.syncInterval)") }
        let header = squared ? (valid == nil ? "iter       tr_mse      seconds" : "iter       tr_mse       va_mse      seconds")
            : (valid == nil ? "iter   tr_logloss      seconds" : "iter   tr_logloss   va_logloss       va_auc      seconds")
        reporter.note(header + (cluster.size > 1 ? "   syncs    MB sent   comm %" : ""))

        var stats: [EpochStats] = []
        var best = (epoch: 0, loss: Double.infinity)
        var sinceBest = 0
        for epoch in 1...params.epochs {
            let started = Date()
            let communicationBefore = cluster.communicationSeconds
            var rng = SplitMix64(seed: params.seed &+ 0x5851_F42D_4C95_7F2D &* UInt64(start.epochs + epoch))
            var order = myBlocks
            if !params.noRand { order.shuffle(using: &rng) }
            let trained = try engine.trainEpoch(train, order: order, shuffle: !params.noRand, rng: &rng, syncPoints: syncPoints,
                                                touched: rankSync.touched, sync: rankSync.synchronize) { done in
                if reporter.live { progressBar(epoch: epoch, fraction: Double(done) / Double(max(myRows, 1))) }
            }
            var trSums = [trained.loss, Double(trained.rows)]
            if cluster.size > 1 {
                cluster.allreduceSum(&trSums)
                rankSync.synchronize()
            }
            let trLoss = trSums[0] / Double(max(Int(trSums[1]), 1))
            if reporter.live { FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!) }
            var row = EpochStats(epoch: epoch, trLogLoss: trLoss, vaLogLoss: nil, vaAUC: nil, seconds: 0)
            if let valid, let regression {
                row.vaLogLoss = try engine.evaluateSquared(valid, blockBytes: blockBytes, clip: regression.info, cluster: cluster)
            } else if let valid {
                let (loss, auc) = try engine.evaluate(valid, blockBytes: blockBytes, cluster: cluster)
                row.vaLogLoss = loss
                row.vaAUC = auc
            }
            row.seconds = Date().timeIntervalSince(started)
            var line = formatRow(row, auc: !squared)
            if cluster.size > 1 {
                let counts = rankSync.takeCounts()
                row.syncs = counts.syncs
                row.sparseSyncs = counts.sparseSyncs
                row.bytesSent = counts.bytes
                row.rowsSent = counts.rowsSent
                row.rowsTouched = counts.rowsTouched
                row.syncSeconds = counts.seconds
                row.communicationSeconds = cluster.communicationSeconds - communicationBefore
                line += String(format: " %7d %10.1f %8.1f", counts.syncs, Double(counts.bytes) / 1e6,
                               100 * row.communicationSeconds! / max(row.seconds, 1e-9))
            }
            stats.append(row)
            reporter.note(line)
            guard try finite(row, model) else { throw divergence(epoch: epoch, params) }
            if let va = row.vaLogLoss, patience > 0 {
                if va < best.loss {
                    best = (epoch, va)
                    sinceBest = 0
                    metadata.epochs = start.epochs + epoch
                    metadata.bestEpoch = start.epochs + epoch
                    metadata.validationLogLoss = va
                    if let checkpoint { try ModelFile.save(model, metadata: metadata, to: checkpoint) }
                } else {
                    sinceBest += 1
                    if sinceBest >= patience {
                        reporter.note("Early stop: no improvement for \(sinceBest) epoch\(sinceBest == 1 ? "" : "s"); "
                            + "using the model of epoch \(best.epoch).")
                        break
                    }
                }
            }
        }
        // Every rank got here: none failed (a failing rank aborts the job before this point).
        cluster.barrier()
        var bestEpoch = stats.count
        if patience > 0, best.epoch > 0 { bestEpoch = best.epoch }
        guard cluster.isRoot else {
            return TrainResult(modelPath: output, epochs: stats, bestEpoch: bestEpoch, rows: train.rowCount,
                               indexCount: start.n, fieldCount: start.m, presentIndices: model.rowCount)
        }
        // One commit point: the epochs log (if asked for) and the model appear together,
        // the model last (the completeness marker).
        let published = CommitGroup()
        if let path = outputs.epochs { try writeLog(stats, to: path, group: published) }
        if params.calibrate != .none, let valid {
            // #16: the kept model (the checkpoint's weights with early stopping) with its calibrator.
            var (kept, keptMetadata) = patience > 0 && best.epoch > 0 ? try ModelFile.load(checkpoint!) : (model, metadata)
            if !(patience > 0 && best.epoch > 0) {
                keptMetadata.epochs = start.epochs + stats.count
                keptMetadata.bestEpoch = start.epochs + stats.count
                keptMetadata.validationLogLoss = stats.last?.vaLogLoss ?? .nan
            }
            try attachCalibrator(params, model: kept, metadata: &keptMetadata, valid: valid, path: inputs.valid!, reporter: reporter)
            try ModelFile.save(kept, metadata: keptMetadata, to: output, group: published)
        } else if patience > 0, best.epoch > 0 {
            // The checkpoint holds the best weights (written atomically, fsynced): it becomes the model.
            try published.add(temporary: checkpoint!, as: output, synced: true)
        } else {
            metadata.epochs = start.epochs + stats.count
            metadata.bestEpoch = start.epochs + stats.count
            metadata.validationLogLoss = stats.last?.vaLogLoss ?? .nan
            try ModelFile.save(model, metadata: metadata, to: output, group: published)
        }
        try published.commit()
        return TrainResult(modelPath: output, epochs: stats, bestEpoch: bestEpoch, rows: train.rowCount,
                           indexCount: start.n, fieldCount: start.m, presentIndices: model.rowCount)
    }

    /// The model training starts from: fresh over the indices seen in training, or a
    /// warm start grown to new indices and fields. Weights exist only for indices that
    /// occur in training (one pass over a cache collects them). With several ranks, each
    /// passes over its share (`myBlocks`) and the ranks' sets are joined.
    static func startingModel(_ params: TrainParams, initModel: String?, train: TrainingSet, myBlocks: [TrainingBlock],
                              valid: CacheReader?, cluster: Cluster = .single, metadata: inout ModelMetadata)
        throws -> (model: FFMModel, n: Int, m: Int, epochs: Int) {
        var n = max(train.indexCount, valid?.info.indexCount ?? 0)
        var m = max(train.fieldCount, valid?.info.fieldCount ?? 0)
        var seen = try SeenIndices(indexCount: n)
        // Text files were converted whole on every rank and their indices collected then.
        for bits in train.indices {
            guard let bits else { continue }
            for w in 0..<min(bits.count, seen.words) { seen.bits[w] |= bits[w] }
        }
        let scan = myBlocks.filter { train.indices[$0.file] == nil }
        if !scan.isEmpty {
            let touchStream = CacheBlockStream(order: scan.map { (train.readers[$0.file], $0.groups) })
            while let block = try touchStream.next() {
                for f in block.allFeatures { seen.insert(Int(f.index)) }
            }
        }
        if cluster.size > 1 { cluster.allreduceOr(seen.bits, count: seen.words) }
        guard let initPath = initModel else {
            seen.seal()
            let model = try FFMModel(kind: params.model, fieldCount: m, factors: params.factors,
                                     normalization: !params.noNorm, linear: !params.noLinear, indices: seen, degree: params.degree)
            model.initialize(seed: params.seed, threads: params.threads)
            if params.model == .deepfm { model.network = try DeepNet.fresh(params, fieldCount: m) }
            return (model, n, m, 0)
        }
        let (loaded, loadedMeta) = try ModelFile.load(initPath)
        try checkCompatible(loaded, with: params, path: initPath)
        let loadedLoss = try loadedMeta.loss(path: initPath)
        guard loadedLoss == params.loss else {
            throw FFMError.incompatibleInitModel(path: initPath, detail: "it was trained with --loss \(loadedLoss.rawValue), training asks for --loss \(params.loss.rawValue)")
        }
        try checkDeepCompatible(loaded, with: params, fieldCount: m, path: initPath)
        n = max(n, loaded.indexCount)
        m = max(m, loaded.fieldCount)
        if n > seen.indexCount {
            let wider = try SeenIndices(indexCount: n)
            seen.forEach { j, _ in wider.insert(j) }
            seen = wider
        }
        loaded.indices.forEach { j, _ in seen.insert(j) }
        seen.seal()
        let model = (seen.count == loaded.rowCount && n == loaded.indexCount && m == loaded.fieldCount) ? loaded
            : try loaded.resized(to: seen, fieldCount: m, seed: params.seed)
        if metadata.featurizerHash == 0 { metadata.featurizerHash = loadedMeta.featurizerHash }
        return (model, n, m, loadedMeta.epochs)
    }

    static func divergence(epoch: Int, _ params: TrainParams) -> FFMError {
        params.model == .deepfm ? .networkDiverged(epoch: epoch, eta: params.eta, netEta: params.netEta)
            : .diverged(epoch: epoch, eta: params.eta)
    }

    static func finite(_ row: EpochStats, _ model: FFMModel) throws -> Bool {
        row.trLogLoss.isFinite && (row.vaLogLoss?.isFinite ?? true) && model.bias[0].isFinite && (model.network?.isFinite ?? true)
    }

    static func checkCompatible(_ model: FFMModel, with params: TrainParams, path: String) throws {
        func fail(_ s: String) -> FFMError { .incompatibleInitModel(path: path, detail: s) }
        guard model.kind == params.model else { throw fail("it is a \(model.kind.rawValue) model, training asks for --model \(params.model.rawValue)") }
        guard model.kind != .hofm || model.degree == params.degree else {
            throw fail("it has degree \(model.degree), training asks for --degree \(params.degree)")
        }
        guard model.factors == params.factors else { throw fail("it has k = \(model.factors), training asks for -k \(params.factors)") }
        guard model.normalization == !params.noNorm else { throw fail("it was trained with\(model.normalization ? "" : "out") normalization; match --no-norm") }
        guard model.hasLinear == (!params.noLinear || params.model == .lr) else {
            throw fail("it was trained with\(model.hasLinear ? "" : "out") linear terms; match --no-linear")
        }
    }

    /// The featurizer hash the model records: that of `--featurizer` (which must be a
    /// featurizer.json), else the training cache's (ctr-hash records it; 0 when unknown).
    /// Every known one must agree, so a model never mixes data of two ctr-hash runs.
    /// - Throws: `FFMError.cacheFeaturizerMismatch` naming both files.
    static func featurizerHash(featurizer: String?, caches: [(path: String, hash: UInt64)]) throws -> UInt64 {
        var reference: (path: String, hash: UInt64, role: String)?
        if let featurizer {
            _ = try Featurizer(contentsOf: featurizer)
            reference = (featurizer, try fileHash(featurizer), "the featurizer")
        }
        for cache in caches where cache.hash != 0 {
            guard let known = reference else {
                reference = (cache.path, cache.hash, "the training cache")
                continue
            }
            guard known.hash == cache.hash else {
                throw FFMError.cacheFeaturizerMismatch(cache: cache.path, cacheHash: cache.hash, other: known.path,
                                                       otherHash: known.hash, otherRole: known.role)
            }
        }
        return reference?.hash ?? 0
    }

    /// XXH64 of a file's bytes: how a model records the featurizer.json it was trained with.
    public static func fileHash(_ path: String) throws -> UInt64 {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LogIOError.cannotOpen(path: path, errno: errno == 0 ? ENOENT : errno)
        }
        return data.withUnsafeBytes { XXHash64.hash($0) }
    }

    static func formatRow(_ r: EpochStats, auc withAUC: Bool = true) -> String {
        if let va = r.vaLogLoss, !withAUC {
            return String(format: "%4d %12.5f %12.5f %12.1f", r.epoch, r.trLogLoss, va, r.seconds)
        }
        if let va = r.vaLogLoss {
            let auc = r.vaAUC.map { String(format: "%13.5f", $0) } ?? String(repeating: " ", count: 10) + "n/a"
            return String(format: "%4d %12.5f %12.5f", r.epoch, r.trLogLoss, va) + auc + String(format: " %12.1f", r.seconds)
        }
        return String(format: "%4d %12.5f %12.1f", r.epoch, r.trLogLoss, r.seconds)
    }

    static func progressBar(epoch: Int, fraction: Double) {
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        FileHandle.standardError.write(String(format: "\r%4d [%@] %3.0f%%", epoch, bar, fraction * 100).data(using: .utf8)!)
    }

    static func writeLog(_ stats: [EpochStats], to path: String, group: CommitGroup) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(stats)
        let out = try AtomicFileWriter(path: path, group: group)
        try data.withUnsafeBytes { try out.write($0) }
        try out.write(byte: 10)
        try out.commit()
    }
}
