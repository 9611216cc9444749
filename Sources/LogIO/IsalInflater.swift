#if ISAL
import CIsal

/// ISA-L's `isal_inflate` as `GzipSource`'s inflater (the `ISAL` package trait): the same
/// bytes as zlib's inflate, in about a quarter of the instructions on x86-64. It checks the
/// trailer's CRC-32 and length itself (`ISAL_GZIP`).
///
/// The gzip header is read by `isal_read_gzip_header` into a header record that lives as
/// long as the member, not by `isal_inflate`: that one reads it into a record on its own
/// stack, and ISA-L up to 2.30 (Debian's libisal2) leaves that record's `flags` unset
/// (fixed in 2.31 by "zero `flags` field in isal_gzip_header_init()"). A header that
/// straddles two calls (a file name cut by the end of the input buffer) was then resumed
/// with whatever flags the stack held, and a garbage "comment" flag swallowed the deflate
/// data up to the next zero byte: "invalid deflate block" a thousand bytes later.
///
/// The `inflate_state` (about 87 KB with its buffers) lives in its own allocation, never moved.
final class IsalInflater: GzipInflater {
    private let state: UnsafeMutablePointer<inflate_state>
    private let header: UnsafeMutablePointer<isal_gzip_header>

    init() {
        state = .allocate(capacity: 1)
        state.initialize(to: inflate_state())
        header = .allocate(capacity: 1)
        header.initialize(to: isal_gzip_header())
        isal_inflate_init(state)
        startMember()
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
        header.deinitialize(count: 1)
        header.deallocate()
    }

    /// A new member: its header still to read (`wrapper_flag` 0), flags cleared by hand.
    private func startMember() {
        state.pointee.crc_flag = UInt32(ISAL_GZIP)
        isal_gzip_header_init(header)
        header.pointee.flags = 0
    }

    var nextIn: UnsafeMutablePointer<UInt8>? {
        get { state.pointee.next_in }
        set { state.pointee.next_in = newValue }
    }
    var availIn: Int {
        get { Int(state.pointee.avail_in) }
        set { state.pointee.avail_in = UInt32(newValue) }
    }
    var nextOut: UnsafeMutablePointer<UInt8>? {
        get { state.pointee.next_out }
        set { state.pointee.next_out = newValue }
    }
    var availOut: Int {
        get { Int(state.pointee.avail_out) }
        set { state.pointee.avail_out = UInt32(newValue) }
    }
    /// Bits read ahead of `next_in`, or decoded bytes not yet copied out.
    var holdsInput: Bool {
        state.pointee.read_in_length > 0 || state.pointee.tmp_out_valid > state.pointee.tmp_out_processed
    }
    var name: String { "ISA-L" }

    func inflate() -> InflateStep {
        if state.pointee.wrapper_flag == 0 {
            // The header, resumable across calls through `header`; it sets `wrapper_flag`
            // when complete, so `isal_inflate` below goes on with the deflate data.
            let code = isal_read_gzip_header(state, header)
            if code == ISAL_END_INPUT { return .progress }
            guard code == ISAL_DECOMP_OK else {
                return .corrupt(code: code, detail: IsalInflater.describe(code))
            }
        }
        let code = isal_inflate(state)
        guard code == ISAL_DECOMP_OK || code == ISAL_END_INPUT || code == ISAL_OUT_OVERFLOW else {
            return .corrupt(code: code, detail: IsalInflater.describe(code))
        }
        return state.pointee.block_state == ISAL_BLOCK_FINISH ? .memberEnd : .progress
    }

    func nextMember() {
        isal_inflate_reset(state)
        startMember()
    }

    static func describe(_ code: Int32) -> String {
        switch code {
        case ISAL_INVALID_BLOCK: return "invalid deflate block"
        case ISAL_INVALID_SYMBOL: return "invalid deflate symbol"
        case ISAL_INVALID_LOOKBACK: return "invalid lookback distance"
        case ISAL_INVALID_WRAPPER: return "invalid gzip header"
        case ISAL_UNSUPPORTED_METHOD: return "unsupported compression method"
        case ISAL_INCORRECT_CHECKSUM: return "incorrect checksum"
        case ISAL_NEED_DICT: return "needs a dictionary"
        default: return "isal_inflate returned \(code)"
        }
    }
}
#endif
