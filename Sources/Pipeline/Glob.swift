import StageKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Shell-style file patterns (`*`, `?`, `[...]`, as glob(3)) in pipeline inputs.
enum Glob {
    static func isPattern(_ path: String) -> Bool {
        path.contains { $0 == "*" || $0 == "?" || $0 == "[" }
    }

    /// The paths matching `pattern`, in natural order (`day_2` before `day_10`), so a
    /// glob over daily logs reads the days chronologically.
    static func expand(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard glob(pattern, 0, nil, &g) == 0 else { return [] }
        var paths: [String] = []
        for i in 0..<Int(g.gl_pathc) {
            if let p = g.gl_pathv[i] { paths.append(String(cString: p)) }
        }
        return paths.sorted(by: naturalLess)
    }

    /// Compares runs of digits by value and everything else byte by byte.
    static func naturalLess(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var i = 0, j = 0
        func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
        while i < x.count, j < y.count {
            if isDigit(x[i]), isDigit(y[j]) {
                var i2 = i, j2 = j
                while i2 < x.count, isDigit(x[i2]) { i2 += 1 }
                while j2 < y.count, isDigit(y[j2]) { j2 += 1 }
                // Compare without leading zeros: longer run is bigger, else digit by digit.
                var si = i, sj = j
                while si < i2 - 1, x[si] == 48 { si += 1 }
                while sj < j2 - 1, y[sj] == 48 { sj += 1 }
                if i2 - si != j2 - sj { return i2 - si < j2 - sj }
                if !x[si..<i2].elementsEqual(y[sj..<j2]) { return x[si..<i2].lexicographicallyPrecedes(y[sj..<j2]) }
                if i2 - i != j2 - j { return i2 - i < j2 - j }
                i = i2
                j = j2
            } else {
                if x[i] != y[j] { return x[i] < y[j] }
                i += 1
                j += 1
            }
        }
        return x.count - i < y.count - j
    }
}
