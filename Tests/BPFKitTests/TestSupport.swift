// Shared helpers for BPFKitTests: the fixture objects, a seeded PRNG, byte patching,
// hand-built BTF blobs, kernel object ids and polling with a deadline.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CBPF
import Testing
@testable import BPFKit

// MARK: - Fixtures

/// The test programs under Fixtures/, compiled by the BPFCompiler plugin.
enum Fixture: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case loader, calls, sections, invalid

    var base64: String {
        switch self {
        case .loader: BPFObjects.loader
        case .calls: BPFObjects.calls
        case .sections: BPFObjects.sections
        case .invalid: BPFObjects.invalid
        }
    }

    /// The object's ELF bytes.
    var bytes: [UInt8] { Base64.decode(base64)! }

    func spec() throws -> ObjectSpec { try ObjectSpec(elf: bytes, name: rawValue) }

    var testDescription: String { rawValue }
}

extension ELFFile {
    /// A section's bytes, nil when the object has no such section.
    func contents(ofSectionNamed name: String) -> [UInt8]? { section(named: name).map { contents(of: $0) } }
}

// MARK: - Randomness

/// SplitMix64: a tiny deterministic generator, so every fuzz run sees the same inputs.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Applies 1–4 random mutations to `bytes`: flipped bits, overwritten bytes (half of them
/// aimed at `hotRanges`, where headers and tables live), or a truncation.
func mutate(_ bytes: [UInt8], hotRanges: [Range<Int>] = [], using random: inout SplitMix64) -> [UInt8] {
    var result = bytes
    for _ in 0..<Int.random(in: 1...4, using: &random) {
        guard !result.isEmpty else { break }
        func position() -> Int {
            let hot = hotRanges.filter { !$0.isEmpty && $0.upperBound <= result.count }
            if !hot.isEmpty, Bool.random(using: &random) {
                return Int.random(in: hot.randomElement(using: &random)!, using: &random)
            }
            return Int.random(in: 0..<result.count, using: &random)
        }
        switch Int.random(in: 0..<10, using: &random) {
        case 0:
            result.removeLast(Int.random(in: 1...result.count, using: &random))
        case 1...4:
            result[position()] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
        case 5...7:
            result[position()] = UInt8.random(in: 0...255, using: &random)
        default:
            // A whole little-endian word set to an extreme: catches unchecked arithmetic.
            let at = position() & ~3
            let value: UInt32 = [0, 0xffff_ffff, 0x8000_0000, 0x7fff_ffff, 0xffff].randomElement(using: &random)!
            if at + 4 <= result.count { result.setInteger(value, at: at) }
        }
    }
    return result
}

// MARK: - Bytes

/// `bytes` with the little-endian `value` written at `offset`.
func patched<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, _ value: T) -> [UInt8] {
    var copy = bytes
    copy.setInteger(value, at: offset)
    return copy
}

/// Offset of section header `index` in an ELF64 file.
func sectionHeaderOffset(_ bytes: [UInt8], index: Int) -> Int {
    Int(bytes.getInteger(at: 0x28, as: UInt64.self)!) + index * Int(bytes.getInteger(at: 0x3a, as: UInt16.self)!)
}

/// True for the errors malformed input may raise: never anything else, never a trap.
func isParseError(_ error: any Error) -> Bool {
    error is ELFError || error is BTFError || error is ObjectError
}

// MARK: - Hand-built BTF

/// Builds raw BTF blobs type by type, for inputs clang would never write.
struct RawBTFBuilder {
    var types: [UInt8] = []
    var strings: [UInt8] = [0]
    private(set) var count = 0

    /// Adds a string to the string section; returns its offset.
    mutating func string(_ text: String) -> UInt32 {
        let offset = UInt32(strings.count)
        strings += Array(text.utf8) + [0]
        return offset
    }

    /// Adds a type: the 12-byte `btf_type` and its trailing words; returns its id.
    @discardableResult
    mutating func type(
        name: String = "", kind: BTF.Kind, vlen: Int = 0, kindFlag: Bool = false, sizeOrType: UInt32, trailing: [UInt32] = []
    ) -> UInt32 {
        let nameOffset = name.isEmpty ? 0 : string(name)
        let info = UInt32(vlen & 0xffff) | UInt32(kind.rawValue) << 24 | (kindFlag ? 1 << 31 : 0)
        for word in [nameOffset, info, sizeOrType] + trailing { types += word.littleEndianBytes }
        count += 1
        return UInt32(count)
    }

    mutating func int(_ name: String, size: UInt32) -> UInt32 {
        type(name: name, kind: .int, sizeOrType: size, trailing: [size * 8])
    }

    mutating func array(of element: UInt32, index: UInt32, count: UInt32) -> UInt32 {
        type(kind: .array, sizeOrType: 0, trailing: [element, index, count])
    }

    /// The blob: header (magic, version 1, flags 0, hdr_len 24), types, strings.
    var blob: [UInt8] {
        var header: [UInt8] = [0x9f, 0xeb, 1, 0]
        for word: UInt32 in [24, 0, UInt32(types.count), UInt32(types.count), UInt32(strings.count)] {
            header += word.littleEndianBytes
        }
        return header + types + strings
    }
}

extension FixedWidthInteger {
    var littleEndianBytes: [UInt8] { withUnsafeBytes(of: littleEndian) { Array($0) } }
}

extension Array where Element == UInt8 {
    /// Reads a little-endian value at `offset` (the bytes must be there).
    func load<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        getInteger(at: offset, as: T.self)!
    }
}

// MARK: - Kernel features

/// What the running kernel offers; a test that needs a feature is skipped only where it is absent.
enum KernelSupport {
    /// BPF_MAP_CREATE works (root or CAP_BPF, and BPF not disabled).
    static let bpf: Bool = (try? BPFMap.create(MapSpec(name: "t_probe", type: .array, keySize: 4, valueSize: 4, maxEntries: 1)))
        .map { $0.close(); return true } ?? false
    /// /sys/kernel/btf/vmlinux exists (CONFIG_DEBUG_INFO_BTF).
    static let btf = access(KernelBTF.path, R_OK) == 0
    /// syscalls:sys_enter_getppid exists (CONFIG_FTRACE_SYSCALLS) and BPF works.
    static let getppidTracepoint = bpf && Tracefs.hasEvent(category: "syscalls", name: "sys_enter_getppid")
}

extension Trait where Self == ConditionTrait {
    static var needsBPF: Self { .enabled(if: KernelSupport.bpf, "needs bpf(2): root or CAP_BPF") }
    static var needsKernelBTF: Self { .enabled(if: KernelSupport.btf, "needs kernel BTF (CONFIG_DEBUG_INFO_BTF)") }
    static var needsGetppidTracepoint: Self {
        .enabled(if: KernelSupport.getppidTracepoint, "needs bpf(2) and syscall tracepoints (CONFIG_FTRACE_SYSCALLS)")
    }
}

// MARK: - Kernel objects

/// The calling thread's id (Glibc's Swift module has no gettid).
func currentThreadID() -> UInt32 {
    var buffer = [CChar](repeating: 0, count: 64)
    let length = readlink("/proc/thread-self", &buffer, buffer.count - 1)
    precondition(length > 0, "cannot read /proc/thread-self")
    let text = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return UInt32(text.split(separator: "/").last!)!
}

/// The kernel id of a map (BPF_OBJ_GET_INFO_BY_FD).
func kernelID(of map: BPFMap) throws -> UInt32 {
    var info = cbpf_map_info()
    try withUnsafeMutableBytes(of: &info) { buffer in
        var attribute = cbpf_info_attr()
        attribute.bpf_fd = UInt32(map.descriptor.rawValue)
        attribute.info_len = UInt32(buffer.count)
        attribute.info = address(buffer.baseAddress)
        try bpf(.objectGetInfoByFD, &attribute)
    }
    return info.id
}

/// The kernel id of a BPF link (its first descriptor).
func kernelID(of link: Link) throws -> UInt32 {
    var info = cbpf_link_info()
    try withUnsafeMutableBytes(of: &info) { buffer in
        var attribute = cbpf_info_attr()
        attribute.bpf_fd = UInt32(link.descriptors[0].rawValue)
        attribute.info_len = UInt32(buffer.count)
        attribute.info = address(buffer.baseAddress)
        try bpf(.objectGetInfoByFD, &attribute)
    }
    return info.id
}

/// Milliseconds on the monotonic clock.
func monotonicMilliseconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
}

/// Polls `condition` every 10 ms until it holds or `timeout` ms pass; returns whether it held.
/// The kernel frees some objects after an RCU grace period, and events arrive asynchronously.
func eventually(timeout: Int = 2000, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = monotonicMilliseconds() + timeout
    while true {
        if try condition() { return true }
        if monotonicMilliseconds() >= deadline { return false }
        usleep(10_000)
    }
}

/// Calls getppid(2) `count` times on this thread.
func callGetppid(_ count: Int) {
    for _ in 0..<count { _ = getppid() }
}

/// The `struct loader_event` the loader fixture sends.
struct LoaderEvent: Equatable {
    var pid: UInt32
    var tid: UInt32
    var seq: UInt64
    var magic: UInt64

    static let size = 24
    static let magicValue: UInt64 = 0xB0F7_C1D5

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.size else { return nil }
        pid = bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
        tid = bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        seq = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        magic = bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
    }

    init?(_ bytes: [UInt8]) {
        guard let event = bytes.withUnsafeBytes({ LoaderEvent($0) }) else { return nil }
        self = event
    }
}

/// Loads the loader fixture, counting only the calling thread's getppid calls. Keep it
/// attached only while the test runs synchronously: a suspended test's thread may run
/// another test meanwhile, and the thread id would no longer single out this one.
func loadLoaderForThisThread() throws -> BPFObject {
    var spec = try Fixture.loader.spec()
    try spec.setGlobal("target_pid", to: UInt32(getpid()))
    try spec.setGlobal("target_tid", to: currentThreadID())
    return try BPFObject(spec: spec)
}

// MARK: - Processes

/// Starts `binary argument` (test programs take one argument, often how long to sleep
/// before doing their work, so a probe can attach); returns its pid.
func spawn(_ binary: String, _ argument: String) -> pid_t {
    var pid: pid_t = 0
    let arguments: [UnsafeMutablePointer<CChar>?] = [strdup(binary), strdup(argument), nil]
    defer { arguments.forEach { free($0) } }
    posix_spawn(&pid, binary, nil, nil, arguments, environ)
    return pid
}

/// Waits for a child; returns its exit status.
func waitExit(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return (status >> 8) & 0xff
}

/// Compiles a C test program (`cc FLAGS`) into /tmp/bpfkit-test-PID/NAME; returns its path.
func compileC(_ name: String, _ source: String, flags: String = "-O1") throws -> String {
    let directory = "/tmp/bpfkit-test-\(getpid())"
    mkdir(directory, 0o755)
    let sourcePath = directory + "/\(name).c", binary = directory + "/\(name)"
    let file = fopen(sourcePath, "w")
    fputs(source, file)
    fclose(file)
    let command = "cc \(flags) -o \(binary) \(sourcePath)"
    guard system(command) == 0 else { throw AttachError("could not build a test program: \(command)") }
    return binary
}
