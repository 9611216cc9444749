import Foundation

/// Runs another source on a background thread, a few chunks ahead of the reader, so
/// that decompression on one core overlaps parsing on the other.
///
/// Memory is bounded: `depth` chunks of `chunkSize` bytes, reused. Dropping the source
/// early stops the background thread.
public final class PrefetchingSource: ByteSource {
    /// What the background thread and the reader share; the thread holds only this.
    private final class Shared: @unchecked Sendable {
        let condition = NSCondition()
        let inner: ByteSource
        let chunkSize: Int
        let allChunks: [UnsafeMutableRawBufferPointer]
        var free: [UnsafeMutableRawBufferPointer]
        var filled: [(chunk: UnsafeMutableRawBufferPointer, count: Int)] = []
        var failure: Error?
        var producerDone = false
        var stopRequested = false
        var innerBytesRead: Int64 = 0

        init(inner: ByteSource, chunkSize: Int, depth: Int) {
            self.inner = inner
            self.chunkSize = chunkSize
            allChunks = (0..<depth).map { _ in .allocate(byteCount: chunkSize, alignment: 64) }
            free = allChunks
        }

        deinit { for chunk in allChunks { chunk.deallocate() } }

        func produce() {
            while true {
                condition.lock()
                while free.isEmpty && !stopRequested { condition.wait() }
                if stopRequested {
                    condition.unlock()
                    return
                }
                let chunk = free.removeLast()
                condition.unlock()

                var count = 0
                var error: Error?
                do {
                    // Fill the whole chunk unless the stream ends: fewer, larger hand-overs.
                    while count < chunkSize {
                        let n = try inner.read(into: UnsafeMutableRawBufferPointer(rebasing: chunk[count...]), linesSoFar: 0)
                        if n == 0 { break }
                        count += n
                    }
                } catch let e {
                    error = e
                }

                condition.lock()
                innerBytesRead = inner.fileBytesRead
                if count > 0 { filled.append((chunk, count)) } else { free.append(chunk) }
                if let error { failure = error }
                if error != nil || count < chunkSize { producerDone = true }
                let done = producerDone
                condition.broadcast()
                condition.unlock()
                if done { return }
            }
        }
    }

    private let shared: Shared
    private var current: UnsafeMutableRawBufferPointer?
    private var currentCount = 0
    private var currentPos = 0
    private var reachedEnd = false

    public init(_ inner: ByteSource, chunkSize: Int = 1 << 20, depth: Int = 4) {
        shared = Shared(inner: inner, chunkSize: max(chunkSize, 1), depth: max(depth, 2))
        let shared = self.shared
        let thread = Thread { shared.produce() }
        thread.start()
    }

    deinit {
        shared.condition.lock()
        shared.stopRequested = true
        shared.condition.broadcast()
        shared.condition.unlock()
    }

    /// Compressed bytes consumed by the background reader (it runs a little ahead).
    public var fileBytesRead: Int64 {
        shared.condition.lock(); defer { shared.condition.unlock() }
        return shared.innerBytesRead
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, linesSoFar: Int) throws -> Int {
        guard buffer.count > 0, !reachedEnd else { return 0 }
        if current == nil || currentPos == currentCount {
            let s = shared
            s.condition.lock()
            if let chunk = current {
                s.free.append(chunk)
                current = nil
                s.condition.broadcast()
            }
            while s.filled.isEmpty && !s.producerDone { s.condition.wait() }
            if s.filled.isEmpty {
                let error = s.failure
                s.condition.unlock()
                reachedEnd = true
                if let e = error as? LogIOError { throw e.replacingLine(linesSoFar) }
                if let error { throw error }
                return 0
            }
            let next = s.filled.removeFirst()
            s.condition.unlock()
            current = next.chunk
            currentCount = next.count
            currentPos = 0
        }
        let n = min(buffer.count, currentCount - currentPos)
        buffer.baseAddress!.copyMemory(from: current!.baseAddress! + currentPos, byteCount: n)
        currentPos += n
        return n
    }
}

extension LogIOError {
    /// The same error with the reader's count of complete lines (a background reader cannot know it).
    func replacingLine(_ line: Int) -> LogIOError {
        switch self {
        case let .corruptGzip(path, offset, _, code, detail, decoder):
            return .corruptGzip(path: path, offset: offset, lastCompleteLine: line, zlibCode: code, detail: detail, decoder: decoder)
        case let .truncatedGzip(path, offset, _):
            return .truncatedGzip(path: path, offset: offset, lastCompleteLine: line)
        case let .trailingGarbage(path, offset, _):
            return .trailingGarbage(path: path, offset: offset, lastCompleteLine: line)
        default:
            return self
        }
    }
}
