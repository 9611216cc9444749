import Cluster
import Testing

/// Tools that do not share their work between ranks refuse to be one of several.
@Suite struct ToolRefusalTests {
    let two = ["OMPI_COMM_WORLD_SIZE": "2"]

    @Test func toolsThatDoNotShareWorkRefuseSeveralRanks() throws {
        for tool in ["ctr-predict", "ctr-eval", "ctr-synth", "ctr-pipeline"] {
            let expected = Cluster.builtWithMPI
                ? ClusterError.severalRanksUnsupported(tool: tool, ranks: 2, variable: "OMPI_COMM_WORLD_SIZE")
                : ClusterError.notBuiltWithMPI(ranks: 2, variable: "OMPI_COMM_WORLD_SIZE")
            #expect(throws: expected) { try Cluster.checkTool(tool, environment: two) }
            // One rank, or no launcher: every tool runs.
            #expect(throws: Never.self) { try Cluster.checkTool(tool, environment: ["OMPI_COMM_WORLD_SIZE": "1"]) }
            #expect(throws: Never.self) { try Cluster.checkTool(tool, environment: [:]) }
        }
        let message = "\(ClusterError.severalRanksUnsupported(tool: "ctr-eval", ranks: 4, variable: "PMI_SIZE"))"
        #expect(message.hasPrefix("ctr-eval does not run as several MPI ranks yet: launched as one of 4 (PMI_SIZE=4)"))
        #expect(message.contains("Run it as one process, without mpirun"))
    }

    @Test func rankAwareToolsRunAsSeveralRanksWhenBuiltWithMPI() {
        #expect(Cluster.rankAwareTools == ["ctr-train", "ctr-ingest", "ctr-hash"])
        for tool in Cluster.rankAwareTools {
            if Cluster.builtWithMPI {
                #expect(throws: Never.self) { try Cluster.checkTool(tool, environment: two) }
            } else {
                #expect(throws: ClusterError.notBuiltWithMPI(ranks: 2, variable: "OMPI_COMM_WORLD_SIZE")) {
                    try Cluster.checkTool(tool, environment: two)
                }
            }
        }
    }
}
