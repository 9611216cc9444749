import Foundation
import Testing
import Dataset
import LogIO
import TestSupport
@testable import FFM

/// Models too large for the machine are refused before anything is allocated, with the
/// size and the options that asked for it.
@Suite struct ModelSizeTests {
    @Test func aModelTooLargeForMemoryIsRefusedBeforeAllocating() throws {
        let seen = try SeenIndices(indexCount: 2000)
        for j in 0..<1000 { seen.insert(j) }
        seen.seal()
        let error = #expect(throws: FFMError.self) {
            try FFMModel(kind: .ffm, fieldCount: 1_000_000, factors: 4096, normalization: true, linear: true, indices: seen)
        }
        // 1,000 rows x (10^6 fields x 4096 + a linear chunk of 4) x 2 floats x 4 bytes = 32.8 TB.
        #expect(error == .modelTooLarge(kind: .ffm, factors: 4096, fields: 1_000_000, indices: 1000, bytes: 32_768_000_032_000,
                                        available: MemoryBudget.physicalBytes))
        #expect(error?.description.hasPrefix("ffm model: -k/--factors 4096 with 1,000,000 fields and 1,000 feature indices needs 32.8 TB of weights") == true)
        // A product beyond 64 bits.
        let wide = try SeenIndices(indexCount: 1 << 20)
        for j in 0..<(1 << 20) { wide.insert(j) }
        wide.seal()
        let overflow = #expect(throws: FFMError.self) {
            try FFMModel(kind: .ffm, fieldCount: 1 << 32, factors: 4096, normalization: true, linear: false, indices: wide)
        }
        #expect(overflow?.description.contains("needs more than 9.2 EB of weights") == true)
        // FM: k alone.
        let fm = #expect(throws: FFMError.self) {
            try FFMModel(kind: .fm, fieldCount: 3, factors: 1 << 40, normalization: true, linear: false, indices: wide)
        }
        #expect(fm?.description.hasPrefix("fm model: -k/--factors 1099511627776 with 1,048,576 feature indices needs") == true)
    }

    @Test func trainingOnAMillionFieldsNamesTheOptions() throws {
        let dir = try TestSupport.makeTemporaryDirectory("ffm-fields")
        let data = dir.appendingPathComponent("wide.ffm").path
        try (0..<40).map { "\($0 % 2) 0:\($0 % 7):1 999999:\(100 + $0 % 5):1" }.joined(separator: "\n")
            .appending("\n").write(toFile: data, atomically: false, encoding: .utf8)
        let error = #expect(throws: FFMError.self) {
            try TrainStage.run(params: quietParams {
                $0.factors = 4096
                $0.epochs = 1
                $0.output = dir.appendingPathComponent("m").path
            }, trainingSet: data)
        }
        // 12 indices x 10^6 fields x 4096 x 8 bytes.
        #expect(error?.description.hasPrefix("ffm model: -k/--factors 4096 with 1,000,000 fields and 12 feature indices needs 393.2 GB") == true,
                "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("m").path))
    }
}
