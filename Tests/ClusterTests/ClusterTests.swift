import Cluster
import Testing

@Suite struct ClusterTests {
    @Test func oneRankCollectivesReturnTheirInput() throws {
        let c = Cluster.single
        #expect(c.rank == 0 && c.size == 1 && c.isRoot)
        var f: [Float] = [1.5, -2, 3]
        c.allreduceSum(&f)
        #expect(f == [1.5, -2, 3])
        var d: [Double] = [0.25]
        c.allreduceSum(&d)
        #expect(d == [0.25])
        #expect(try c.allgather([Float(1), 2]) == [1, 2])
        #expect(try c.allgather([UInt8(7)]) == [7])
        var b: [UInt8] = [4, 5]
        c.broadcast(&b)
        #expect(b == [4, 5])
        c.barrier()
    }

    @Test func launcherEnvironmentIsRead() {
        #expect(Cluster.launchedRanks(environment: [:]) == nil)
        #expect(Cluster.launchedRanks(environment: ["OMPI_COMM_WORLD_SIZE": "4"])?.ranks == 4)
        #expect(Cluster.launchedRanks(environment: ["PMI_SIZE": "2"])?.variable == "PMI_SIZE")
    }

    @Test func severalRanksWithoutMPIAreRefused() throws {
        #expect(throws: Never.self) { try Cluster.checkLaunch(environment: ["OMPI_COMM_WORLD_SIZE": "1"]) }
        #expect(throws: Never.self) { try Cluster.checkLaunch(environment: [:]) }
        if Cluster.builtWithMPI {
            #expect(throws: Never.self) { try Cluster.checkLaunch(environment: ["OMPI_COMM_WORLD_SIZE": "2"]) }
        } else {
            #expect(throws: ClusterError.notBuiltWithMPI(ranks: 2, variable: "OMPI_COMM_WORLD_SIZE")) {
                try Cluster.checkLaunch(environment: ["OMPI_COMM_WORLD_SIZE": "2"])
            }
            let message = "\(ClusterError.notBuiltWithMPI(ranks: 3, variable: "PMI_SIZE"))"
            #expect(message.contains("swift build -c release --traits MPI"))
            #expect(message.contains("PMI_SIZE=3"))
        }
    }
}
