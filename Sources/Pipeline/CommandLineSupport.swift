import StageKit
/// Command-line helpers of ctr-pipeline kept in the library so they can be tested.
public enum CommandLineSupport {
    /// `--force` takes an optional stage name, which ArgumentParser cannot express:
    /// `--force STAGE` and `--force=STAGE` become the hidden `--force-stage STAGE`, while
    /// a bare `--force` (followed by an option, by nothing, or by the pipeline file
    /// itself) stays the flag that forces every stage.
    public static func rewriteForce(_ args: [String]) -> [String] {
        let takesValue: Set<String> = ["--set", "--from", "--only", "--jobs", "-j", "--force-stage"]
        // Indices of positional arguments (not options, not option values).
        var positional: [Int] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--" { positional += Array(i + 1..<args.count); break }
            if takesValue.contains(a) { i += 2; continue }
            if !a.hasPrefix("-") { positional.append(i) }
            i += 1
        }
        var out: [String] = []
        i = 0
        while i < args.count {
            let a = args[i]
            if a.hasPrefix("--force=") {
                out += ["--force-stage", String(a.dropFirst("--force=".count))]
            } else if a == "--force", i + 1 < args.count, positional.contains(i + 1) {
                // The next word is a stage unless it is the pipeline file itself:
                // the subcommand and the file are the first two positionals.
                let later = positional.filter { $0 > i + 1 }.count
                let earlier = positional.filter { $0 < i }.count
                if earlier >= 2 || later >= 1 {
                    out += ["--force-stage", args[i + 1]]
                    i += 2
                    continue
                }
                out.append(a)
            } else {
                out.append(a)
            }
            i += 1
        }
        return out
    }
}
