import Foundation

/// The run's log (stderr by default): every line a stage says carries the stage's name
/// padded to the longest stage name of the pipeline (`[train  ] running: ...`), so the
/// columns line up when stages run at once (`--jobs N`). Each call writes whole lines in
/// one call of the sink, under a lock: lines of different stages never interleave, and a
/// multi-line note (an epoch table, eval's metrics table) stays in one piece.
///
/// Stages report whole lines (`Reporter.note`); a subprocess stage's output is not relayed
/// live but kept in the stage's stdout.log and stderr.log, its tail reported as notes.
final class RunLog: @unchecked Sendable {
    private let sink: @Sendable (String) -> Void
    private let lock = NSLock()
    /// Width of the stage names inside the brackets.
    let width: Int

    init(stageNames: [String], sink: @escaping @Sendable (String) -> Void) {
        self.sink = sink
        self.width = stageNames.map(\.count).max() ?? 0
    }

    /// `[name   ] `, the name padded to the longest stage name.
    func prefix(_ stage: String) -> String {
        "[" + stage.padding(toLength: max(width, stage.count), withPad: " ", startingAt: 0) + "] "
    }

    /// Writes `text` (one line, or several separated by newlines) as lines of `stage`,
    /// each with the stage's prefix, in one write.
    func stage(_ stage: String, _ text: String) {
        let p = prefix(stage)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.isEmpty ? p.trimmingTrailingSpaces() : p + line
        }
        write(lines.joined(separator: "\n"))
    }

    /// Writes lines that belong to no stage (warnings of the run) in one write.
    func write(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        sink(text)
    }
}
