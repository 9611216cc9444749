@testable import FFM
import Testing

@Suite struct DistributedTests {
    @Test func oneRankKeepsTheBlocks() {
        let blocks = [0..<3, 3..<4, 4..<9]
        #expect(rankShare(blocks, groupCount: 9, rank: 0, size: 1) == blocks)
    }

    @Test func sharesAreDisjointCoverEveryGroupInOrderAndAreCutAtTheirEnds() {
        let blocks = [0..<3, 3..<4, 4..<9]
        #expect(rankShare(blocks, groupCount: 9, rank: 0, size: 2) == [0..<3, 3..<4])
        #expect(rankShare(blocks, groupCount: 9, rank: 1, size: 2) == [4..<9])
        #expect(rankShare(blocks, groupCount: 9, rank: 0, size: 3) == [0..<3])
        #expect(rankShare(blocks, groupCount: 9, rank: 1, size: 3) == [3..<4, 4..<6])
        #expect(rankShare(blocks, groupCount: 9, rank: 2, size: 3) == [6..<9])
        for size in 1...12 {
            let all = (0..<size).flatMap { rankShare(blocks, groupCount: 9, rank: $0, size: size) }
            #expect(all.flatMap { Array($0) } == Array(0..<9), "size \(size)")
        }
        // More ranks than groups: some ranks get nothing.
        #expect(rankShare([0..<1], groupCount: 1, rank: 0, size: 2).isEmpty)
        #expect(rankShare([0..<1], groupCount: 1, rank: 1, size: 2) == [0..<1])
    }
}
