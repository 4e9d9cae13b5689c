#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CBPF

/// A reader of a perf event array map (BPF_MAP_TYPE_PERF_EVENT_ARRAY), the per-CPU output
/// channel of kernels without ring buffers (`bpf_perf_event_output`).
///
/// One BPF_OUTPUT software event is opened and mapped per online CPU and stored in the
/// map under that CPU. Records the kernel dropped because a buffer was full are counted
/// in ``lostEvents``.
///
/// ```swift
/// let buffer = try PerfBuffer(map: object.map("events"))
/// try buffer.poll(timeout: 100) { cpu, bytes in print(cpu, bytes.count) }
/// ```
public final class PerfBuffer: @unchecked Sendable {
    private struct CPUBuffer {
        var cpu: Int
        var event: FileDescriptor
        var base: UnsafeMutableRawPointer
        var dataSize: Int
    }

    public let map: BPFMap
    private var buffers: [CPUBuffer] = []
    private let epoll: FileDescriptor
    private let pageSize: Int
    private let mappedSize: Int
    private var scratch: [UInt8] = []
    private var closed = false
    /// Held while samples are read and while the buffers are unmapped (see RingBuffer).
    private let lock = Mutex()
    /// Records the kernel could not write because a CPU's buffer was full.
    public private(set) var lostEvents: UInt64 = 0

    /// - Parameter pagesPerCPU: data pages per CPU, a power of two.
    public init(map: BPFMap, pagesPerCPU: Int = 64) throws {
        guard map.type == .perfEventArray else { throw ObjectError("map \(map.name) is not a perf event array") }
        guard pagesPerCPU > 0, pagesPerCPU & (pagesPerCPU - 1) == 0 else {
            throw ObjectError("perf buffer pages per CPU must be a power of two, not \(pagesPerCPU)")
        }
        self.map = map
        pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        mappedSize = pageSize * (1 + pagesPerCPU)
        let epollFD = cbpf_epoll_create()
        guard epollFD >= 0 else { throw SystemCallError(call: "epoll_create1", errno: -epollFD) }
        epoll = FileDescriptor(owning: epollFD)
        for cpu in CPUs.online where cpu < map.maxEntries {
            var attribute = cbpf_perf_event_attr()
            attribute.type = 1  // PERF_TYPE_SOFTWARE
            attribute.config = 10  // PERF_COUNT_SW_BPF_OUTPUT
            attribute.sample_type = 0x400  // PERF_SAMPLE_RAW
            attribute.sample_period_or_freq = 1
            attribute.wakeup_events_or_watermark = 1
            let event = try perfEventOpen(&attribute, pid: -1, cpu: Int32(cpu))
            guard let base = mmap(nil, mappedSize, PROT_READ | PROT_WRITE, MAP_SHARED, event.rawValue, 0), base != MAP_FAILED else {
                throw SystemCallError(call: "mmap perf buffer (cpu \(cpu))", errno: errno)
            }
            buffers.append(CPUBuffer(cpu: cpu, event: event, base: base, dataSize: pageSize * pagesPerCPU))
            var key = UInt32(cpu), value = UInt32(event.rawValue)
            try map.update(key: withUnsafeBytes(of: &key) { Array($0) }, value: withUnsafeBytes(of: &value) { Array($0) })
            try ioctl(event, 0x2400, 0, name: "PERF_EVENT_IOC_ENABLE")
            let added = cbpf_epoll_add(epoll.rawValue, event.rawValue, UInt64(buffers.count - 1))
            guard added == 0 else { throw SystemCallError(call: "epoll_ctl perf buffer", errno: -added) }
        }
    }

    public var pollDescriptor: Int32 { epoll.rawValue }

    /// Calls `handler(cpu, bytes)` for each sample now available; returns how many.
    /// The bytes include the kernel's padding: carry the payload length in the payload.
    @discardableResult
    public func consume(_ handler: (Int, UnsafeRawBufferPointer) throws -> Void) rethrows -> Int {
        try lock.withLock { try consumeLocked(handler) }
    }

    private func consumeLocked(_ handler: (Int, UnsafeRawBufferPointer) throws -> Void) rethrows -> Int {
        guard !closed else { return 0 }
        var handled = 0
        for buffer in buffers {
            let page = buffer.base
            let dataStart = page + pageSize
            let head = cbpf_load_acquire(page + Int(CBPF_PERF_MMAP_DATA_HEAD))
            var tail = page.load(fromByteOffset: Int(CBPF_PERF_MMAP_DATA_TAIL), as: UInt64.self)
            while tail < head {
                let offset = Int(tail % UInt64(buffer.dataSize))
                let headerBytes = read(dataStart, buffer.dataSize, offset, 8)
                let type = headerBytes.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
                let size = Int(headerBytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 6, as: UInt16.self) })
                guard size >= 8 else { break }
                let record = read(dataStart, buffer.dataSize, offset, size)
                if type == 9, size >= 12 {  // PERF_RECORD_SAMPLE with PERF_SAMPLE_RAW
                    let rawSize = Int(record.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self) })
                    try record.withUnsafeBytes { bytes in
                        try handler(buffer.cpu, UnsafeRawBufferPointer(rebasing: bytes[12..<min(12 + rawSize, size)]))
                    }
                    handled += 1
                } else if type == 2, size >= 24 {  // PERF_RECORD_LOST
                    lostEvents += record.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self) }
                }
                tail += UInt64(size)
                cbpf_store_release(page + Int(CBPF_PERF_MMAP_DATA_TAIL), tail)
            }
        }
        return handled
    }

    /// Copies `count` bytes at `offset` of the circular data area (a record may wrap).
    private func read(_ data: UnsafeMutableRawPointer, _ size: Int, _ offset: Int, _ count: Int) -> [UInt8] {
        let first = min(count, size - offset)
        var bytes = Array(UnsafeRawBufferPointer(start: data + offset, count: first))
        if first < count { bytes += UnsafeRawBufferPointer(start: data, count: count - first) }
        return bytes
    }

    /// Waits up to `timeout` milliseconds for samples, then consumes them.
    @discardableResult
    public func poll(timeout: Int32, _ handler: (Int, UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let ready = try consume(handler)
        if ready > 0 { return ready }
        var tokens = [UInt64](repeating: 0, count: 64)
        let count = cbpf_epoll_wait(epoll.rawValue, &tokens, 64, timeout)
        if count < 0 {
            if lock.withLock({ closed }) { return 0 }  // closed by another thread meanwhile
            throw SystemCallError(call: "epoll_wait", errno: -count)
        }
        return try consume(handler)
    }

    /// The samples as an `AsyncSequence` of (cpu, bytes).
    public var records: AsyncThrowingStream<(cpu: Int, bytes: [UInt8]), any Error> {
        pollingStream(isClosed: { [self] in lock.withLock { closed } }) { [self] yield in
            try poll(timeout: 100) { yield(($0, Array($1))) }
        }
    }

    public func close() {
        lock.withLock {
            guard !closed else { return }
            closed = true
            for buffer in buffers {
                munmap(buffer.base, mappedSize)
                buffer.event.close()
            }
            buffers.removeAll()
        }
        epoll.close()
    }

    deinit { close() }
}
