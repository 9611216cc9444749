#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// How much memory one allocation may ask for: the machine's physical memory. Large
/// allocations (model weights, counting tables) are sized against it first, with
/// overflow checks, so an option that asks for too much is a clear error naming the
/// option rather than an abort in the allocator or the OOM killer.
public enum MemoryBudget {
    /// Physical memory in bytes (`sysconf`), or `Int.max` when the system does not say.
    public static let physicalBytes: Int = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return Int.max }
        let (bytes, overflow) = pages.multipliedReportingOverflow(by: size)
        return overflow ? Int.max : bytes
    }()

    /// The product of `factors` in bytes, nil when it does not fit in an `Int`.
    public static func product(_ factors: [Int]) -> Int? {
        var total = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (p, overflow) = total.multipliedReportingOverflow(by: f)
            if overflow { return nil }
            total = p
        }
        return total
    }

    /// Whether `bytes` (nil: more than `Int.max`) fit in the budget.
    public static func fits(_ bytes: Int?) -> Bool {
        guard let bytes else { return false }
        return bytes <= physicalBytes
    }

    /// "16.8 GB", "512.0 MB", "more than 9.2 EB" (nil) for messages.
    public static func describe(_ bytes: Int?) -> String {
        guard let bytes else { return "more than 9.2 EB" }
        let units = ["bytes", "KB", "MB", "GB", "TB", "PB", "EB"]
        var value = Double(bytes), unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(bytes) bytes" : String(format: "%.1f", value) + " " + units[unit]
    }

    /// "this machine's 8.2 GB of memory", for messages.
    public static var machineDescription: String { "this machine's \(describe(physicalBytes)) of memory" }
}
