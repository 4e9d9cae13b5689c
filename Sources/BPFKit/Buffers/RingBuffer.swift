#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CBPF

/// A reader of a BPF ring buffer map (BPF_MAP_TYPE_RINGBUF, Linux 5.8).
///
/// Records are read in place from the shared mapping, with no copy, by ``consume(_:)`` and
/// ``poll(timeout:_:)``; ``records`` offers them as an `AsyncSequence` of copies. One reader
/// at a time: the consumer position is this reader's alone.
///
/// The kernel does not count records a full ring buffer refused; programs count failed
/// reservations themselves (BPFKit's tools keep a `lost_events` global).
///
/// ```swift
/// let ring = try RingBuffer(map: object.map("events"))
/// try ring.poll(timeout: 100) { bytes in print(bytes.count) }     // in place, no copy
/// for try await record in ring.records { handle(record) }         // or as an AsyncSequence
/// ```
public final class RingBuffer: @unchecked Sendable {
    public let map: BPFMap
    private let consumer: UnsafeMutableRawPointer
    private let producer: UnsafeMutableRawPointer
    private let data: UnsafeMutableRawPointer
    private let mask: UInt64
    private let pageSize: Int
    private let epoll: FileDescriptor
    private var closed = false
    /// Held while records are read and while the buffer is unmapped, so closing from one
    /// thread while another polls (an `AsyncSequence` reader) never reads unmapped memory.
    private let lock = Mutex()

    /// Maps the ring buffer's pages: the consumer page read-write, the producer page and
    /// the data area (mapped twice back to back, so a wrapped record reads contiguously)
    /// read-only.
    public init(map: BPFMap) throws {
        guard map.type == .ringBuffer else { throw ObjectError("map \(map.name) is a \(map.type) map, not a ring buffer") }
        self.map = map
        pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let size = map.maxEntries
        mask = UInt64(size - 1)
        let fd = map.descriptor.rawValue
        guard let consumer = mmap(nil, pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), consumer != MAP_FAILED else {
            throw SystemCallError(call: "mmap ring buffer \(map.name) consumer page", errno: errno)
        }
        guard let producer = mmap(nil, pageSize + 2 * size, PROT_READ, MAP_SHARED, fd, off_t(pageSize)), producer != MAP_FAILED else {
            munmap(consumer, pageSize)
            throw SystemCallError(call: "mmap ring buffer \(map.name) data", errno: errno)
        }
        self.consumer = consumer
        self.producer = producer
        data = producer + pageSize
        let epollFD = cbpf_epoll_create()
        guard epollFD >= 0 else { throw SystemCallError(call: "epoll_create1", errno: -epollFD) }
        epoll = FileDescriptor(owning: epollFD)
        let added = cbpf_epoll_add(epoll.rawValue, fd, 0)
        guard added == 0 else { throw SystemCallError(call: "epoll_ctl ring buffer \(map.name)", errno: -added) }
    }

    /// A descriptor that polls readable when records may be waiting, for callers that
    /// wait on several sources in one epoll set.
    public var pollDescriptor: Int32 { epoll.rawValue }

    /// Calls `handler` with each committed record now available (its bytes are valid only
    /// during the call), and returns how many records it handled.
    @discardableResult
    public func consume(_ handler: (UnsafeRawBufferPointer) throws -> Void) rethrows -> Int {
        try lock.withLock { try consumeLocked(handler) }
    }

    private func consumeLocked(_ handler: (UnsafeRawBufferPointer) throws -> Void) rethrows -> Int {
        guard !closed else { return 0 }
        // One pass up to the producer position seen now: a ring that refills as fast as it
        // is read must not keep the caller (and its Ctrl-C handling) here forever.
        var handled = 0
        var position = cbpf_load_acquire(consumer)
        let end = cbpf_load_acquire(producer)
        while position < end {
            let header = data + Int(position & mask)
            let length = cbpf_load_acquire32(header)
            if length & 0x8000_0000 != 0 { break }  // BUSY: reserved, not yet committed
            let payload = Int(length & 0x3fff_ffff)
            position += UInt64((payload + 8 + 7) & ~7)
            if length & 0x4000_0000 == 0 {  // not DISCARDed
                defer { cbpf_store_release(consumer, position) }
                try handler(UnsafeRawBufferPointer(start: header + 8, count: payload))
                handled += 1
            } else {
                cbpf_store_release(consumer, position)
            }
        }
        return handled
    }

    /// Waits up to `timeout` milliseconds (-1: forever) for records, then consumes them.
    @discardableResult
    public func poll(timeout: Int32, _ handler: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let ready = try consume(handler)
        if ready > 0 { return ready }
        var token: UInt64 = 0
        let count = cbpf_epoll_wait(epoll.rawValue, &token, 1, timeout)
        if count < 0 {
            if lock.withLock({ closed }) { return 0 }  // closed by another thread meanwhile
            throw SystemCallError(call: "epoll_wait", errno: -count)
        }
        return try consume(handler)
    }

    /// The records as an `AsyncSequence` of byte arrays. A background thread waits for
    /// the kernel; the sequence ends when the task is cancelled or the reader is closed.
    public var records: AsyncThrowingStream<[UInt8], any Error> {
        pollingStream(isClosed: { [self] in lock.withLock { closed } }) { [self] yield in
            try poll(timeout: 100) { yield(Array($0)) }
        }
    }

    /// Unmaps the buffer. Records not yet read are lost.
    public func close() {
        lock.withLock {
            guard !closed else { return }
            closed = true
            munmap(consumer, pageSize)
            munmap(producer, pageSize + 2 * (Int(mask) + 1))
        }
        // A poller still in epoll_wait returns at its timeout and finds the buffer closed.
        epoll.close()
    }

    deinit { close() }
}
