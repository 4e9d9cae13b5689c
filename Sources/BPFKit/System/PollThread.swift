#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A flag one thread sets and another reads.
final class StopFlag: @unchecked Sendable {
    private let lock = Mutex()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// A detached pthread that runs a blocking wait loop, so `AsyncSequence` readers never
/// block Swift's cooperative thread pool.
final class PollThread: @unchecked Sendable {
    let stop = StopFlag()
    private let body: (StopFlag) -> Void

    init(_ body: @escaping (StopFlag) -> Void) { self.body = body }

    func start() {
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { context in
            let box = Unmanaged<PollThread>.fromOpaque(context!).takeRetainedValue()
            box.body(box.stop)
            return nil
        }, context)
        if result == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<PollThread>.fromOpaque(context).release()
            body(stop)
        }
    }
}

/// An `AsyncThrowingStream` fed by a blocking `poll` loop on a ``PollThread``: `poll` waits a
/// bounded time and yields what it read; the loop ends when the consumer stops iterating
/// (or its task is cancelled) or when `isClosed` turns true.
func pollingStream<Element: Sendable>(
    isClosed: @escaping () -> Bool,
    poll: @escaping (_ yield: (Element) -> Void) throws -> Void
) -> AsyncThrowingStream<Element, any Error> {
    AsyncThrowingStream { continuation in
        let thread = PollThread { stop in
            do {
                while !stop.isSet && !isClosed() {
                    try poll { continuation.yield($0) }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in thread.stop.set() }
        thread.start()
    }
}
