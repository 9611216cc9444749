import Foundation
import Testing
import LogIO
import TestSupport

/// The stage commit point (issue 12, items 5 and 13) and the cleanup of temporary files (item 12).
struct CommitGroupTests {
    final class Folder {
        let url: URL
        init() throws { url = try TestSupport.makeTemporaryDirectory("commit-group") }
        deinit { try? FileManager.default.removeItem(at: url) }
        func path(_ name: String) -> String { url.appendingPathComponent(name).path }
        var names: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted() }
        func text(_ name: String) -> String? { try? String(contentsOfFile: path(name), encoding: .utf8) }
        func write(_ name: String, _ text: String) throws { try Data(text.utf8).write(to: URL(fileURLWithPath: path(name))) }
    }

    @Test func filesAppearOnlyOnTheGroupsCommit() throws {
        let f = try Folder()
        try f.write("marker.json", "old marker")
        try f.write("a.txt", "old a")
        let group = CommitGroup()
        let a = try AtomicFileWriter(path: f.path("a.txt"), group: group)
        let b = try AtomicFileWriter(path: f.path("b.txt.gz"), gzip: true, group: group)
        let marker = try AtomicFileWriter(path: f.path("marker.json"), group: group)
        try a.write("new a")
        try b.write("new b")
        try marker.write("new marker")
        for w in [a, b, marker] { try w.commit() }
        // Finished, fsynced and closed, but not yet published.
        #expect(f.text("a.txt") == "old a" && f.text("marker.json") == "old marker")
        #expect(f.names.filter { $0.contains(".partial-") }.count == 3)
        #expect(group.paths == [f.path("a.txt"), f.path("b.txt.gz"), f.path("marker.json")])
        try group.commit()
        #expect(f.names == ["a.txt", "b.txt.gz", "marker.json"])
        #expect(f.text("a.txt") == "new a" && f.text("marker.json") == "new marker")
        let reader = try LineReader(path: f.path("b.txt.gz"))
        #expect(try reader.next().map { String(decoding: UnsafeRawBufferPointer($0), as: UTF8.self) } == "new b")
    }

    @Test func aGroupDroppedWithoutCommitRemovesEveryFileAndPublishesNone() throws {
        let f = try Folder()
        try f.write("a.txt", "old a")
        try f.write("scratch", "a finished file made elsewhere")
        do {
            let group = CommitGroup()
            let a = try AtomicFileWriter(path: f.path("a.txt"), group: group)
            try a.write("new a")
            try a.commit()
            try group.add(temporary: f.path("scratch"), as: f.path("c.txt"))
            let b = try AtomicFileWriter(path: f.path("b.txt"), group: group)
            try b.write("never finished")
            // The stage fails here: b is dropped unfinished, the group uncommitted.
        }
        #expect(f.names == ["a.txt"])
        #expect(f.text("a.txt") == "old a")
    }

    @Test func aFailedRenameRemovesTheFilesNotYetPublished() throws {
        let f = try Folder()
        try FileManager.default.createDirectory(atPath: f.path("a-folder"), withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: f.path("a-folder/inside"), withIntermediateDirectories: false)
        let group = CommitGroup()
        for name in ["a-folder", "z.json"] {
            let w = try AtomicFileWriter(path: f.path(name), group: group)
            try w.write(name)
            try w.commit()
        }
        #expect(throws: LogIOError.self) { try group.commit() }
        // No marker, no temporary file.
        #expect(f.names == ["a-folder"])
    }

    @Test func aWriterWithoutAGroupStillRenamesOnCommit() throws {
        let f = try Folder()
        let w = try AtomicFileWriter(path: f.path("x"))
        try w.write("x")
        try w.commit()
        #expect(f.names == ["x"] && f.text("x") == "x")
    }

    /// Item 12: `.NAME.partial-PID` of a process that is gone is removed when a writer for
    /// NAME opens in that folder; partials of live processes and of other names stay.
    @Test func openingAWriterRemovesStalePartialsOfTheSameName() throws {
        let f = try Folder()
        let dead = try TestSupport.deadProcessID()
        let live = getppid()
        let stale = [".out.txt.partial-\(dead)"]
        let kept = [".out.txt.partial-\(live)", ".other.txt.partial-\(dead)", ".out.txt.partial-\(dead)x", ".out.txt.partial-"]
        for name in stale + kept { try f.write(name, "left by a killed run") }
        let w = try AtomicFileWriter(path: f.path("out.txt"))
        #expect(f.names == (kept + [".out.txt.partial-\(getpid())"]).sorted())
        try w.write("ok")
        try w.commit()
        #expect(f.names == (kept + ["out.txt"]).sorted())
        #expect(TemporaryFiles.removeStale(in: f.url.path, prefix: ".other.txt.partial-") == [".other.txt.partial-\(dead)"])
    }
}
