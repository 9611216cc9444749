#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if MPI
import CMPI
#endif

/// Errors of the cluster layer.
public enum ClusterError: Error, CustomStringConvertible, Equatable {
    /// Launched by mpirun (or another MPI launcher) as one of several ranks by a build without MPI.
    case notBuiltWithMPI(ranks: Int, variable: String)
    /// A gather would exceed what one MPI call can count (2³¹ - 1 elements).
    case tooLarge(operation: String, count: Int)
    /// Launched as one of several ranks, by a build with MPI, a tool that does not run on several ranks yet.
    case severalRanksUnsupported(tool: String, ranks: Int, variable: String)

    public var description: String {
        switch self {
        case let .notBuiltWithMPI(ranks, variable):
            return "launched as one of \(ranks) MPI ranks (\(variable)=\(ranks)), but this build has no MPI: "
                + "every rank would do the whole job alone. Build with `swift build -c release --traits MPI` "
                + "(needs Open MPI: apt-get install libopenmpi-dev openmpi-bin), or run one process without mpirun"
        case let .severalRanksUnsupported(tool, ranks, variable):
            return "\(tool) does not run as several MPI ranks yet: launched as one of \(ranks) (\(variable)=\(ranks)), "
                + "every rank would do the whole job alone and overwrite the others' outputs. Run it as one process, "
                + "without mpirun (only ctr-train, ctr-ingest and ctr-hash share work between ranks: docs/SCALING.md)"
        case let .tooLarge(operation, count):
            return "\(operation): \(count) elements in one MPI call; expected at most \(Int32.max)"
        }
    }
}

/// The processes of one job and what they do together: rank, size and the collectives
/// training needs. With the `MPI` trait and under an MPI launcher, it is MPI_COMM_WORLD;
/// otherwise one rank, whose collectives return their input.
///
/// Collectives are called from one thread (the one that made the cluster). MPI's default
/// error handler (MPI_ERRORS_ARE_FATAL) aborts the whole job when a call fails, so the
/// calls return nothing to check.
public final class Cluster: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// Whether collectives go through MPI (false for one rank without MPI).
    public let usesMPI: Bool

    /// One process alone: rank 0 of 1.
    public static let single = Cluster(rank: 0, size: 1, usesMPI: false)

    init(rank: Int, size: Int, usesMPI: Bool) {
        self.rank = rank
        self.size = size
        self.usesMPI = usesMPI
    }

    public var isRoot: Bool { rank == 0 }

    /// Whether this build links MPI (the `MPI` trait).
    public static var builtWithMPI: Bool {
        #if MPI
        return true
        #else
        return false
        #endif
    }

    /// The number of ranks an MPI launcher started this process among, from its environment
    /// (Open MPI's mpirun: OMPI_COMM_WORLD_SIZE; MPICH, Intel MPI and Slurm's PMI: PMI_SIZE);
    /// nil when not started by one.
    public static func launchedRanks(environment: [String: String]? = nil) -> (ranks: Int, variable: String)? {
        for variable in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"] {
            let value = environment.map { $0[variable] } ?? getenv(variable).map { String(cString: $0) }
            if let value, let n = Int(value) { return (n, variable) }
        }
        return nil
    }

    /// Refuses to run as one of several ranks without MPI (each would do the whole job and
    /// they would overwrite each other's outputs).
    public static func checkLaunch(environment: [String: String]? = nil) throws {
        guard !builtWithMPI, let (n, variable) = launchedRanks(environment: environment), n > 1 else { return }
        throw ClusterError.notBuiltWithMPI(ranks: n, variable: variable)
    }

    /// Tools that share their work between ranks; every other `ctr-*` tool refuses to be one of several.
    public static let rankAwareTools: Set<String> = ["ctr-train", "ctr-ingest", "ctr-hash"]

    /// Refuses to run `tool` as one of several ranks (any build) unless it is rank aware:
    /// each rank would do the whole job and they would overwrite each other's outputs.
    /// Without MPI, `checkLaunch`'s message (how to build with MPI) comes first.
    public static func checkTool(_ tool: String, environment: [String: String]? = nil) throws {
        try checkLaunch(environment: environment)
        guard !rankAwareTools.contains(tool), let (n, variable) = launchedRanks(environment: environment), n > 1 else { return }
        throw ClusterError.severalRanksUnsupported(tool: tool, ranks: n, variable: variable)
    }

    nonisolated(unsafe) private static var started: Cluster?

    /// The job's cluster: MPI's world when built with MPI and started by an MPI launcher
    /// (MPI is initialised on the first call, finalised at exit), else one rank.
    /// - Throws: `ClusterError.notBuiltWithMPI` when launched as several ranks without MPI.
    public static func world() throws -> Cluster {
        if let started { return started }
        try checkLaunch()
        var cluster = single
        #if MPI
        if launchedRanks() != nil {
            MPI_Init(nil, nil)
            var r: Int32 = 0, n: Int32 = 0
            MPI_Comm_rank(cmpi_comm_world(), &r)
            MPI_Comm_size(cmpi_comm_world(), &n)
            atexit { MPI_Finalize() }
            cluster = Cluster(rank: Int(r), size: Int(n), usesMPI: true)
        }
        #endif
        started = cluster
        return cluster
    }

    // MARK: - Collectives

    /// Wall seconds this process spent in collectives (waiting for the slowest rank included).
    public private(set) var communicationSeconds: Double = 0

    /// Runs `body` (a collective), adding its wall time to `communicationSeconds`.
    @inline(__always)
    func timed<R>(_ body: () throws -> R) rethrows -> R {
        guard usesMPI else { return try body() }
        var t0 = timespec(), t1 = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t0)
        defer {
            clock_gettime(CLOCK_MONOTONIC, &t1)
            communicationSeconds += Double(t1.tv_sec - t0.tv_sec) + Double(t1.tv_nsec - t0.tv_nsec) / 1e9
        }
        return try body()
    }

    /// Largest element count of one MPI call (its counts are Int32).
    static let chunk = 1 << 30

    /// Sums `count` floats at `values` over the ranks, in place (every rank gets the sum).
    public func allreduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) {
        #if MPI
        allreduceSum(values, count: count, type: cmpi_float())
        #endif
    }

    /// Sums `count` doubles at `values` over the ranks, in place.
    public func allreduceSum(_ values: UnsafeMutablePointer<Double>, count: Int) {
        #if MPI
        allreduceSum(values, count: count, type: cmpi_double())
        #endif
    }

    #if MPI
    /// In place, in calls of at most `chunk` elements.
    private func allreduceSum<T>(_ values: UnsafeMutablePointer<T>, count: Int, type: MPI_Datatype) {
        allreduce(values, count: count, type: type, op: cmpi_op_sum())
    }

    private func allreduce<T>(_ values: UnsafeMutablePointer<T>, count: Int, type: MPI_Datatype, op: MPI_Op) {
        guard usesMPI else { return }
        timed {
            var done = 0
            while done < count {
                let n = min(Cluster.chunk, count - done)
                MPI_Allreduce(cmpi_in_place(), values + done, Int32(n), type, op, cmpi_comm_world())
                done += n
            }
        }
    }
    #endif

    /// Bitwise OR of `count` words at `values` over the ranks, in place (every rank gets it).
    public func allreduceOr(_ values: UnsafeMutablePointer<UInt64>, count: Int) {
        #if MPI
        allreduce(values, count: count, type: cmpi_uint64(), op: cmpi_op_bor())
        #endif
    }

    public func allreduceSum(_ values: inout [Float]) {
        let n = values.count
        values.withUnsafeMutableBufferPointer { if let p = $0.baseAddress { allreduceSum(p, count: n) } }
    }

    public func allreduceSum(_ values: inout [Double]) {
        let n = values.count
        values.withUnsafeMutableBufferPointer { if let p = $0.baseAddress { allreduceSum(p, count: n) } }
    }

    /// Every rank's `values` (their lengths may differ), concatenated in rank order, on every rank.
    public func allgather(_ values: [Float]) throws -> [Float] { try allgather(values, floats: true) }

    /// Every rank's bytes, concatenated in rank order, on every rank.
    public func allgather(_ values: [UInt8]) throws -> [UInt8] { try allgather(values, floats: false) }

    private func allgather<T: BitwiseCopyable>(_ values: [T], floats: Bool) throws -> [T] {
        #if MPI
        guard usesMPI else { return values }
        return try timed { try gather(values, type: floats ? cmpi_float() : cmpi_byte()) }
        #else
        return values
        #endif
    }

    #if MPI
    private func gather<T: BitwiseCopyable>(_ values: [T], type: MPI_Datatype) throws -> [T] {
        var counts = [UInt64](repeating: 0, count: size)
        var mine = UInt64(values.count)
        MPI_Allgather(&mine, 1, cmpi_uint64(), &counts, 1, cmpi_uint64(), cmpi_comm_world())
        let total = counts.reduce(0, +)
        guard total <= UInt64(Int32.max) else { throw ClusterError.tooLarge(operation: "allgather", count: Int(total)) }
        var counts32 = counts.map { Int32($0) }
        var offsets = [Int32](repeating: 0, count: size)
        for r in 1..<max(size, 1) { offsets[r] = offsets[r - 1] + counts32[r - 1] }
        // Every rank knows the total: all skip the second call when it is 0.
        guard total > 0 else { return [] }
        return [T](unsafeUninitializedCapacity: Int(total)) { out, initialized in
            values.withUnsafeBufferPointer { send in
                // A rank with nothing to send still passes a valid address (count 0).
                let base = send.baseAddress.map { UnsafeRawPointer($0) } ?? UnsafeRawPointer(out.baseAddress!)
                MPI_Allgatherv(base, Int32(values.count), type, out.baseAddress, &counts32, &offsets, type, cmpi_comm_world())
            }
            initialized = Int(total)
        }
    }
    #endif

    /// Rank `root`'s bytes on every rank (`values` is replaced on the others).
    public func broadcast(_ values: inout [UInt8], root: Int = 0) {
        #if MPI
        guard usesMPI else { return }
        var count = UInt64(values.count)
        MPI_Bcast(&count, 1, cmpi_uint64(), Int32(root), cmpi_comm_world())
        if rank != root { values = [UInt8](repeating: 0, count: Int(count)) }
        var done = 0
        while done < Int(count) {
            let n = min(Cluster.chunk, Int(count) - done)
            values.withUnsafeMutableBufferPointer {
                _ = MPI_Bcast($0.baseAddress! + done, Int32(n), cmpi_byte(), Int32(root), cmpi_comm_world())
            }
            done += n
        }
        #endif
    }

    /// Waits until every rank has called it.
    public func barrier() {
        #if MPI
        guard usesMPI else { return }
        timed { _ = MPI_Barrier(cmpi_comm_world()) }
        #endif
    }

    /// Prints `message` on stderr and ends the whole job (every rank) with `code`.
    public func abort(_ message: String, code: Int32 = 1) -> Never {
        let text = Array((message.hasSuffix("\n") ? message : message + "\n").utf8)
        text.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
        #if MPI
        if usesMPI { MPI_Abort(cmpi_comm_world(), code) }
        #endif
        exit(code)
    }
}
