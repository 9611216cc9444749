/// Raw bytes with a single owner: allocated by `init`, freed by `deinit`, never by hand.
///
/// The reader's and the writer's working buffers are held through this, so that no
/// init-failure path or `deinit` has to remember which buffers exist yet, and a buffer
/// that grows is replaced (the old one goes with its owner) rather than freed in place.
final class ScratchBuffer {
    let bytes: UnsafeMutableRawBufferPointer

    init(byteCount: Int, alignment: Int) {
        bytes = .allocate(byteCount: byteCount, alignment: alignment)
    }

    deinit { bytes.deallocate() }
}
