import Foundation
import Testing
import LogIO
import TestSupport
@testable import Metrics

/// The built ctr-eval executable: exit codes, stdout table, stderr messages.
@Suite struct CommandTests {
    @Test func printsTableAndWritesReports() throws {
        let s = try Scratch()
        let p = try s.file("p.txt", "0.9\n0.2\n0.4\n0.1\n0.7\n0.3\n")
        let q = try s.file("q.txt", "0.5\n0.4\n0.6\n0.1\n0.8\n0.2\n")
        let y = try s.file("y.txt", "1\n0\n1\n0\n1\n0\n")
        let json = s.dir.appendingPathComponent("m.json").path
        let html = s.dir.appendingPathComponent("r.html").path
        let r = try TestSupport.run("ctr-eval", ["--predictions", p, "--predictions", q, "--labels", y,
                                                 "--json", json, "--html", html, "--bins", "2", "--strategy", "uniform",
                                                 "--model-name", "base", "--model-name", "new"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("metric"))
        #expect(r.stdout.contains("base") && r.stdout.contains("new"))
        #expect(r.stdout.contains("1.000000"))  // p ranks every positive first
        #expect(FileManager.default.fileExists(atPath: json) && FileManager.default.fileExists(atPath: html))
        #expect(r.stderr.contains("wrote \(json)"))
    }

    /// Issue 12, item 5: the reports appear together or not at all; metrics.json used to be
    /// published when report.html could not be written.
    @Test func aReportThatCannotBeWrittenLeavesNeither() throws {
        let s = try Scratch()
        let p = try s.file("p.txt", "0.9\n0.2\n0.4\n0.1\n")
        let y = try s.file("y.txt", "1\n0\n1\n0\n")
        let json = s.dir.appendingPathComponent("m.json").path
        let html = s.dir.appendingPathComponent("r.html").path
        let nowhere = s.dir.appendingPathComponent("missing/folder/r").path
        let noHTML = try TestSupport.run("ctr-eval", ["--predictions", p, "--labels", y, "--json", json, "--html", nowhere + ".html"])
        #expect(noHTML.status == 1, "\(noHTML.stderr)")
        #expect(!FileManager.default.fileExists(atPath: json))
        let noJSON = try TestSupport.run("ctr-eval", ["--predictions", p, "--labels", y, "--json", nowhere + ".json", "--html", html])
        #expect(noJSON.status == 1, "\(noJSON.stderr)")
        #expect(!FileManager.default.fileExists(atPath: html))
        // A previous run's metrics.json stays as it was.
        try Data("old".utf8).write(to: URL(fileURLWithPath: json))
        _ = try TestSupport.run("ctr-eval", ["--predictions", p, "--labels", y, "--json", json, "--html", nowhere + ".html"])
        #expect(try String(contentsOfFile: json, encoding: .utf8) == "old")
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.dir.path).sorted() == ["m.json", "p.txt", "y.txt"])
    }

    @Test func oneClassWarnsAndExitsZero() throws {
        let s = try Scratch()
        let p = try s.file("p.txt", "0.9\n0.2\n0.4\n")
        let y = try s.file("y.txt", "0\n0\n0\n")
        let r = try TestSupport.run("ctr-eval", ["--predictions", p, "--labels", y])
        #expect(r.status == 0)
        #expect(r.stderr.contains("warning:") && r.stderr.contains("one class only"))
        #expect(r.stdout.contains("logloss"))
    }

    @Test func badInputExitsOneWithTheMessage() throws {
        let s = try Scratch()
        let p = try s.file("p.txt", "0.9\n1.2\n0.4\n")
        let y = try s.file("y.txt", "0\n1\n0\n")
        let r = try TestSupport.run("ctr-eval", ["--predictions", p, "--labels", y])
        #expect(r.status == 1)
        #expect(r.stderr.contains("\(p):2: probability outside [0, 1]: found \"1.2\""), "\(r.stderr)")
        let short = try s.file("short.txt", "0\n1\n")
        let m = try TestSupport.run("ctr-eval", ["--predictions", try s.file("ok.txt", "0.1\n0.2\n0.3\n"), "--labels", short])
        #expect(m.status == 1)
        #expect(m.stderr.contains("has 3 lines but \(short) has 2"), "\(m.stderr)")
        let empty = try TestSupport.run("ctr-eval", ["--predictions", try s.file("e.txt", ""), "--labels", try s.file("e2.txt", "")])
        #expect(empty.status == 1)
        #expect(empty.stderr.contains("no rows"))
        let missing = try TestSupport.run("ctr-eval", ["--predictions", p])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("--labels"))
        let gone = try TestSupport.run("ctr-eval", ["--predictions", "/nonexistent/p", "--labels", y])
        #expect(gone.status == 1)
        #expect(gone.stderr.contains("/nonexistent/p"))
    }

    @Test func scoresAModelDirectlyLikeCtrPredict() throws {
        let s = try Scratch()
        var rng = SplitMix64(seed: 11)
        var lines: [String] = []
        for _ in 0..<3000 {
            let a = Int(rng.nextUnitDouble() * 20), b = Int(rng.nextUnitDouble() * 30)
            let click = rng.nextUnitDouble() < (a % 4 == 0 ? 0.3 : 0.05) + (b % 5 == 0 ? 0.1 : 0)
            lines.append("\(click ? 1 : 0) 0:\(a):1 1:\(20 + b):1")
        }
        let train = try s.file("train.ffm", lines[..<2000].joined(separator: "\n") + "\n")
        let test = try s.file("test.ffm", lines[2000...].joined(separator: "\n") + "\n")
        let model = s.dir.appendingPathComponent("m.model").path
        let trained = try TestSupport.run("ctr-train", ["-t", "4", "-k", "2", "--seed", "1", train, model])
        try #require(trained.status == 0, "\(trained.stderr)")
        let json = s.dir.appendingPathComponent("direct.json").path
        let direct = try TestSupport.run("ctr-eval", ["--model", model, "--data", test, "--json", json])
        #expect(direct.status == 0, "\(direct.stderr)")
        let predictions = s.dir.appendingPathComponent("test.pred").path
        let predicted = try TestSupport.run("ctr-predict", [test, model, predictions])
        try #require(predicted.status == 0, "\(predicted.stderr)")
        let twoStep = try TestSupport.run("ctr-eval", ["--predictions", predictions, "--labels", test, "--model-name", "m.model"])
        #expect(twoStep.status == 0)
        // Same scores, same labels: the same table (the header names the labels file either way).
        #expect(direct.stdout == twoStep.stdout, "\(direct.stdout)\n---\n\(twoStep.stdout)")
        #expect(direct.stdout.contains("(libffm)"))
        let text = try String(contentsOfFile: json, encoding: .utf8)
        #expect(text.contains("\"predictions\": \"\(model)\""))
        let bad = try TestSupport.run("ctr-eval", ["--model", model])
        #expect(bad.status != 0 && bad.stderr.contains("--data"))
    }
}
