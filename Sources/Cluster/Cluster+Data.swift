// Collectives over variable-length data, built on `allgather` of bytes: what ctr-ingest and
// ctr-hash need to merge their counts across ranks (docs/SCALING.md "Ingest and hash on MPI").
// With one rank every call returns its input, without MPI.

extension Cluster {
    /// Every rank's bytes, one array per rank in rank order, on every rank.
    public func allgatherParts(_ bytes: [UInt8]) throws -> [[UInt8]] {
        guard size > 1 else { return [bytes] }
        let lengths = try allgatherInts([Int64(bytes.count)])
        let all = try allgather(bytes)
        var parts: [[UInt8]] = []
        var at = 0
        for n in lengths {
            parts.append(Array(all[at..<(at + Int(n))]))
            at += Int(n)
        }
        return parts
    }

    /// Every rank's integers concatenated in rank order (each rank passes the same count).
    public func allgatherInts(_ values: [Int64]) throws -> [Int64] {
        guard size > 1 else { return values }
        var message = ClusterMessage()
        for v in values { message.append(v) }
        let all = try allgather(message.bytes)
        var reader = ClusterMessageReader(all)
        return try (0..<(all.count / 8)).map { _ in try reader.int() }
    }

    /// The element-wise sums of every rank's `values` (each rank passes the same count).
    public func sumInts(_ values: [Int64]) throws -> [Int64] {
        guard size > 1 else { return values }
        let all = try allgatherInts(values)
        var sums = [Int64](repeating: 0, count: values.count)
        for r in 0..<size { for i in values.indices { sums[i] += all[r * values.count + i] } }
        return sums
    }

    /// The exclusive prefix sum of `value` over the ranks (the sum of the ranks before this
    /// one, 0 on rank 0) and the total over all ranks.
    public func exclusivePrefixSum(_ value: Int64) throws -> (before: Int64, total: Int64) {
        let all = try allgatherInts([value])
        return (all[..<rank].reduce(0, +), all.reduce(0, +))
    }

    /// Whether every rank passed true (a vote before a commit point).
    public func allAgree(_ ok: Bool) throws -> Bool {
        try sumInts([ok ? 0 : 1])[0] == 0
    }
}

/// A message from another rank that ends early (a bug, never user input).
public enum ClusterDataError: Error, CustomStringConvertible, Equatable {
    case truncatedMessage(at: Int, size: Int)

    public var description: String {
        switch self {
        case let .truncatedMessage(at, size):
            return "a message between ranks ends early: a value at byte \(at) of \(size); expected the values the other rank sent"
        }
    }
}

/// Little-endian binary encoding of what a rank sends in a gather: integers, doubles,
/// byte arrays and strings, read back in the same order by `ClusterMessageReader`.
public struct ClusterMessage: Sendable {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public mutating func append(_ v: Int64) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func append(_ v: Int) { append(Int64(v)) }

    public mutating func append(_ v: Double) { append(Int64(bitPattern: v.bitPattern)) }

    public mutating func append(bytes b: [UInt8]) {
        append(b.count)
        bytes.append(contentsOf: b)
    }

    public mutating func append(_ s: String) { append(bytes: Array(s.utf8)) }
}

/// Reads a `ClusterMessage`'s values in the order they were appended.
public struct ClusterMessageReader {
    private let bytes: [UInt8]
    private var at = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { at >= bytes.count }

    public mutating func int() throws -> Int64 {
        guard at + 8 <= bytes.count else { throw ClusterDataError.truncatedMessage(at: at, size: bytes.count) }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[at + i]) << UInt64(8 * i) }
        at += 8
        return Int64(bitPattern: v)
    }

    public mutating func count() throws -> Int {
        let n = try int()
        guard n >= 0, Int(n) <= bytes.count - at else { throw ClusterDataError.truncatedMessage(at: at, size: bytes.count) }
        return Int(n)
    }

    public mutating func double() throws -> Double { Double(bitPattern: UInt64(bitPattern: try int())) }

    public mutating func byteArray() throws -> [UInt8] {
        let n = try count()
        defer { at += n }
        return Array(bytes[at..<(at + n)])
    }

    public mutating func string() throws -> String { String(decoding: try byteArray(), as: UTF8.self) }
}
