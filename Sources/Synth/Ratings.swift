// ctr-synth --format ratings (issue #13): user-item ratings from a planted biased low-rank
// matrix with Gaussian noise of known standard deviation, in MovieLens u.data's layout.
//
//   y(u, i) = μ + b_u + b_i + <p_u, q_i> + ε,   ε ~ N(0, σ²)
//
// μ = 3.5, b_u and b_i ~ N(0, 0.4²), the rank-r factors' entries ~ N(0, s²) with
// s⁴ = 0.5 / r (so the interaction has variance 0.5 whatever the rank). No model can
// expect an RMSE below σ on these rows: the noise-free mean is the Bayes-optimal prediction.

import Foundation
import LogIO

/// The planted ratings model.
struct PlantedRatings {
    static let globalMean = 3.5
    let users: Int, items: Int, rank: Int
    let userBias: [Double], itemBias: [Double]
    /// Row-major factors: user u's are p[u * rank ..< (u + 1) * rank].
    let p: [Double], q: [Double]

    init(seed: UInt64, users: Int, items: Int, rank: Int) {
        var rng = Xoshiro256(seed: mix64(seed ^ 0x7a71_9c5))
        func normal() -> Double { rng.normal() }
        self.users = users
        self.items = items
        self.rank = rank
        userBias = (0..<users).map { _ in 0.4 * normal() }
        itemBias = (0..<items).map { _ in 0.4 * normal() }
        let s = pow(0.5 / Double(rank), 0.25)
        p = (0..<(users * rank)).map { _ in s * normal() }
        q = (0..<(items * rank)).map { _ in s * normal() }
    }

    /// The noise-free rating of (u, i).
    func mean(user u: Int, item i: Int) -> Double {
        var t = PlantedRatings.globalMean + userBias[u] + itemBias[i]
        for d in 0..<rank { t += p[u * rank + d] * q[i * rank + d] }
        return t
    }
}

extension Xoshiro256 {
    /// A standard normal draw (Box–Muller, one of the pair).
    mutating func normal() -> Double {
        let u1 = uniform(), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

extension Synth {
    /// Writes `params.rows` ratings `user<TAB>item<TAB>rating<TAB>timestamp` (users and items
    /// drawn uniformly, ratings with 4 decimals, timestamps increasing by one second) and,
    /// with `truth`, each row's noise-free rating. The summary's RMSE figures replace the
    /// log losses: `bayesRMSE` is that of the noise-free ratings (≈ σ), `constantRMSE` that
    /// of the mean rating.
    static func runRatings(params: SynthParams, output: String, probabilities: String?) throws -> SynthSummary {
        let model = PlantedRatings(seed: params.seed, users: params.users, items: params.items, rank: params.rank)
        var rng = Xoshiro256(seed: params.seed)
        let published = CommitGroup()
        let writer = try AtomicFileWriter(path: output, gzip: output.hasSuffix(".gz"), level: Int32(params.gzipLevel), group: published)
        let truth = try probabilities.map {
            try AtomicFileWriter(path: $0, gzip: $0.hasSuffix(".gz"), level: Int32(params.gzipLevel), group: published)
        }
        var sumY = 0.0, sumY2 = 0.0, sumE2 = 0.0, sumMean = 0.0
        for row in 0..<params.rows {
            let u = Int(rng.next() % UInt64(params.users)), i = Int(rng.next() % UInt64(params.items))
            let mean = model.mean(user: u, item: i)
            let y = ((mean + params.noise * rng.normal()) * 1e4).rounded() / 1e4
            try writer.write("u\(u + 1)\ti\(i + 1)\t\(String(format: "%.4f", y))\t\(880_000_000 + row)\n")
            if let truth { try truth.write(String(format: "%.6f\n", mean)) }
            sumY += y
            sumY2 += y * y
            sumE2 += (y - mean) * (y - mean)
            sumMean += mean
        }
        try truth?.commit()
        try writer.commit()
        try published.commit()
        let n = Double(params.rows)
        var summary = SynthSummary(rows: params.rows, clicks: 0, meanProbability: sumMean / n, bayesLogLoss: 0, constantLogLoss: 0)
        summary.bayesRMSE = (sumE2 / n).squareRoot()
        summary.constantRMSE = max(sumY2 / n - (sumY / n) * (sumY / n), 0).squareRoot()
        return summary
    }
}
