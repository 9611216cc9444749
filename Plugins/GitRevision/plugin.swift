import Foundation
import PackagePlugin

/// Writes `GitRevision.swift` (`enum GitRevision { static let value = "1a2b3c4d5e6f" }`)
/// before every build of the target that uses it, for `--version`. The revision is
/// `git rev-parse --short=12 HEAD` of the package folder, with `+modified` when tracked
/// files differ from it; `unknown` when the folder is not a git checkout (a tarball) or
/// git is missing, so such a build still works. The file is rewritten only when the text
/// changes, so an unchanged revision recompiles nothing.
@main
struct GitRevisionPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let folder = context.pluginWorkDirectoryURL.appending(path: "generated")
        let script = #"""
            mkdir -p "$2" || exit 1
            rev=$(git -C "$1" rev-parse --short=12 HEAD 2>/dev/null) || rev=unknown
            if [ "$rev" != unknown ] && ! git -C "$1" diff --quiet HEAD 2>/dev/null; then rev="$rev+modified"; fi
            text="enum GitRevision { static let value = \"$rev\" }"
            [ "$(cat "$2/GitRevision.swift" 2>/dev/null)" = "$text" ] || printf '%s\n' "$text" > "$2/GitRevision.swift"
            """#
        return [.prebuildCommand(displayName: "git revision for --version",
                                 executable: URL(fileURLWithPath: "/bin/sh"),
                                 arguments: ["-c", script, "git-revision", context.package.directoryURL.path, folder.path],
                                 outputFilesDirectory: folder)]
    }
}
