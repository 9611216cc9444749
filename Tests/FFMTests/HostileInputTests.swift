#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing
import Dataset
import LogIO
import TestSupport
@testable import FFM

/// Damaged and hostile model files, and models too large for the machine: each is an
/// error, never a trap (a trap would end the test process, which is the check).
@Suite struct HostileModelTests {
    /// A model trained on a tiny problem: n 12, m 3, k 4.
    func tinyModel(_ kind: ModelKind) throws -> (Problem, String) {
        let problem = try Problem(rows: 120, validRows: 10, fields: 3, cardinality: 4)
        let path = problem.path("tiny-\(kind.rawValue).model")
        _ = try TrainStage.run(params: quietParams {
            $0.model = kind
            $0.epochs = 1
            $0.threads = 1
            $0.output = path
        }, trainingSet: problem.train)
        return (problem, path)
    }

    /// Loads `path` after `edit` changed its bytes in place, then restores them.
    func loadEdited(_ path: String, at offset: Int, _ edit: (UInt8) -> UInt8) -> Result<Void, Error> {
        let fd = open(path, O_RDWR)
        precondition(fd >= 0)
        defer { close(fd) }
        var byte: UInt8 = 0
        precondition(pread(fd, &byte, 1, off_t(offset)) == 1)
        var changed = edit(byte)
        precondition(pwrite(fd, &changed, 1, off_t(offset)) == 1)
        defer { precondition(pwrite(fd, &byte, 1, off_t(offset)) == 1) }
        return Result { _ = try ModelFile.load(path) }
    }

    @Test(arguments: [ModelKind.ffm, .fm, .lr])
    func everySingleBitFlipIsAnError(kind: ModelKind) throws {
        let (_, path) = try tinyModel(kind)
        let size = try fileBytes(path).count
        #expect(size > ModelFile.headerSize)
        // Every bit of the 128-byte header (1,024 flips), then every bit of the rest: the
        // header is checked field by field before anything is allocated, the rest by the
        // checksum, so no flip loads.
        var loaded: [String] = []
        var notModelErrors: [String] = []
        for offset in 0..<size {
            for bit in 0..<8 where offset < ModelFile.headerSize || bit == offset % 8 {
                switch loadEdited(path, at: offset, { $0 ^ UInt8(1 << bit) }) {
                case .success: loaded.append("byte \(offset) bit \(bit)")
                case .failure(let error): if !(error is FFMError) { notModelErrors.append("byte \(offset) bit \(bit): \(error)") }
                }
            }
        }
        #expect(loaded.isEmpty, "flips that loaded: \(loaded)")
        #expect(notModelErrors.isEmpty, "\(notModelErrors)")
        _ = try ModelFile.load(path)   // restored
    }

    @Test func theWeightFieldCountOfByte55IsRangeChecked() throws {
        let (_, path) = try tinyModel(.ffm)
        // Bit 7 of byte 55: the top bit of the weight-field count (bytes 48-55), 3 | 1 << 63.
        let result = loadEdited(path, at: 55) { $0 ^ 0x80 }
        let detail = "header weight-field count (bytes 48-55) is 9223372036854775811; expected 3 for a ffm model with m = 3"
        #expect(throws: FFMError.corruptModel(path: path, detail: detail)) { try result.get() }
        #expect(FFMError.corruptModel(path: path, detail: detail).description.hasPrefix("\(path): corrupt model file: header"))
    }

    @Test func consistentButHugeHeadersFailOnTheFileSizeBeforeAllocating() throws {
        let (problem, path) = try tinyModel(.ffm)
        var bytes = [UInt8](try fileBytes(path))
        func put(_ v: UInt64, _ at: Int) { for i in 0..<8 { bytes[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) } }
        func put32(_ v: UInt32, _ at: Int) { for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
        // n = m = 2^32, k = 65536, every index with weights: 2^32 x 2^32 x 2^16 x 8 bytes overflows 64 bits.
        put(1 << 32, 24); put(1 << 32, 32); put32(1 << 16, 40); put32(1 << 16, 44); put(1 << 32, 48); put(1 << 32, 56)
        let huge = problem.path("huge.model")
        try Data(bytes).write(to: URL(fileURLWithPath: huge))
        #expect(throws: FFMError.corruptModel(path: huge, detail: "header describes more than 2^64 bytes of weights "
                                                + "(n 4294967296, m 4294967296, k 65536, 4294967296 indices with weights)")) {
            try ModelFile.load(huge)
        }
        // Sizes that multiply within 64 bits but describe a file of terabytes.
        put(1 << 20, 24); put(1 << 16, 32); put32(64, 40); put32(64, 44); put(1 << 16, 48); put(1 << 20, 56)
        try Data(bytes).write(to: URL(fileURLWithPath: huge))
        do {
            _ = try ModelFile.load(huge)
            Issue.record("loaded")
        } catch let error as FFMError {
            #expect(error.description.contains("header describes a file of 35184380608656 bytes"), "\(error)")
            #expect(error.description.contains("(truncated)"))
        }
    }

    @Test func everyTruncationIsAnError() throws {
        let (_, path) = try tinyModel(.fm)
        let bytes = try fileBytes(path)
        let cut = path + ".cut"
        for length in 0..<bytes.count {
            try bytes.prefix(length).write(to: URL(fileURLWithPath: cut))
            #expect(throws: FFMError.self, "length \(length)") { try ModelFile.load(cut) }
        }
        // Trailing bytes too.
        try (bytes + Data([0])).write(to: URL(fileURLWithPath: cut))
        #expect(throws: FFMError.self) { try ModelFile.load(cut) }
    }

    @Test func randomBytesAreErrors() throws {
        let (problem, path) = try tinyModel(.ffm)
        let good = [UInt8](try fileBytes(path))
        let file = problem.path("random.model")
        var rng = SplitMix64(seed: 12)
        for trial in 0..<600 {
            let length = Int(rng.next() % 400)
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if trial % 3 > 0 && length >= 12 {
                // Past the magic and version, into the header checks.
                bytes.replaceSubrange(0..<12, with: good[0..<12])
                if trial % 3 == 2 && length >= 48 { bytes.replaceSubrange(12..<48, with: good[12..<48]) }
            }
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            #expect(throws: FFMError.self, "trial \(trial)") { try ModelFile.load(file) }
        }
    }
}
