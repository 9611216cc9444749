import ArgumentParser
import LogIO

/// Options every stage executable shares.
public struct CommonOptions: ParsableArguments {
    @Flag(name: .long, help: "Print nothing but errors on stderr.")
    public var quiet = false

    public init() {}
}

/// Turns a stage's error into ArgumentParser's error path: the message on stderr
/// (`Error: …`, naming the file/line/key) and exit code 1. Errors from the stage
/// libraries are all `CustomStringConvertible`, so the message is theirs, unchanged.
public struct StageFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
