/// "Did you mean …?" suggestions for mistyped keys, stage names and choices.
public enum Suggest {
    /// The candidate closest to `word`, or nil when none is plausibly meant.
    ///
    /// Case, `-` and `_` are ignored first, so `neg-keep-rate` and `neg_keep_rate`
    /// suggest `negKeepRate` (command-line flags are kebab-case, JSON keys camelCase);
    /// otherwise the edit distance must be at most a third of the word's length
    /// (at least 1, at most 3).
    public static func closest(to word: String, among candidates: [String]) -> String? {
        let normalized = normalize(word)
        if let exact = candidates.first(where: { normalize($0) == normalized }) { return exact }
        let limit = max(1, min(3, word.count / 3))
        var best: (String, Int)?
        for candidate in candidates {
            let d = distance(normalized, normalize(candidate))
            if d <= limit, best == nil || d < best!.1 { best = (candidate, d) }
        }
        if let best { return best.0 }
        // A prefix such as "lamb" for "lambda".
        if normalized.count >= 3, let prefix = candidates.first(where: { normalize($0).hasPrefix(normalized) }) { return prefix }
        return nil
    }

    public static func normalize(_ s: String) -> String {
        String(s.lowercased().filter { $0 != "-" && $0 != "_" })
    }

    /// Edit distance counting insertions, deletions, substitutions and swaps of two
    /// neighbouring characters as 1 each (optimal string alignment), so "widht" is one
    /// edit from "width".
    /// - Complexity: O(|a|·|b|) time and memory.
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }

    /// " (did you mean \"x\"?)" or "".
    public static func hint(_ word: String, _ candidates: [String]) -> String {
        closest(to: word, among: candidates).map { " (did you mean \"\($0)\"?)" } ?? ""
    }
}
