/// A stack trace map (BPF_MAP_TYPE_STACK_TRACE) read as instruction pointers.
///
/// Programs store stacks with `bpf_get_stackid` and keep the returned id; user space looks
/// the id up once per distinct stack, innermost frame first.
///
/// ```swift
/// let stacks = try StackTraceMap(object.map("stack_traces"))
/// let frames = try stacks.frames(id: key.kernelStackID)   // [UInt64], leaf first
/// ```
public struct StackTraceMap: @unchecked Sendable {
    public let map: BPFMap

    public init(_ map: BPFMap) throws(ObjectError) {
        guard map.type == .stackTrace else { throw ObjectError("map \(map.name) is a \(map.type) map, not a stack trace map") }
        self.map = map
    }

    /// The most frames a stack holds (value size / 8).
    public var maximumDepth: Int { map.valueSize / 8 }

    /// The stack stored under `id`, leaf first, without the zero padding; empty when the id
    /// is negative (an error code) or no longer in the map.
    public func frames(id: Int32) throws -> [UInt64] {
        guard id >= 0, let value = try map.lookup(key: bytes(of: UInt32(id))) else { return [] }
        var frames: [UInt64] = []
        frames.reserveCapacity(value.count / 8)
        value.withUnsafeBytes { raw in
            for index in 0..<(raw.count / 8) {
                let address = raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
                if address == 0 { break }
                frames.append(address)
            }
        }
        return frames
    }

    /// Whether a stack filled every slot: deeper frames were cut off.
    public func isTruncated(_ frames: [UInt64]) -> Bool { frames.count >= maximumDepth }
}
