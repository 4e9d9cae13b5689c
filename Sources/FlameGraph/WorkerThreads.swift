#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Plain POSIX threads for the few places that split work across cores (reading one large
/// file in parts): no Foundation, no dispatch queues.
enum WorkerThreads {
    /// Processors online.
    static var processorCount: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    private final class Job: @unchecked Sendable {
        let body: (Int) -> Void
        let index: Int
        init(body: @escaping (Int) -> Void, index: Int) {
            self.body = body
            self.index = index
        }
    }

    /// Runs `body(0)` … `body(count - 1)` at the same time: 0 on the calling thread, the
    /// others on new threads (inline if a thread cannot be made), and returns when all are done.
    static func run(_ count: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            var threads: [pthread_t] = []
            for index in 1..<max(count, 1) {
                let job = Unmanaged.passRetained(Job(body: body, index: index)).toOpaque()
                var thread = pthread_t()
                let created = pthread_create(&thread, nil, { context in
                    let job = Unmanaged<Job>.fromOpaque(context!).takeRetainedValue()
                    job.body(job.index)
                    return nil
                }, job)
                if created == 0 {
                    threads.append(thread)
                } else {
                    Unmanaged<Job>.fromOpaque(job).release()
                    body(index)
                }
            }
            if count > 0 { body(0) }
            for thread in threads { pthread_join(thread, nil) }
        }
    }
}
