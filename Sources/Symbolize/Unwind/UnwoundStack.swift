/// The user registers an unwind starts from, as the BPF program captured them.
public struct UserRegisters: Sendable, Equatable {
    public var ip: UInt64
    public var sp: UInt64
    public var bp: UInt64

    public init(ip: UInt64, sp: UInt64, bp: UInt64) {
        self.ip = ip
        self.sp = sp
        self.bp = bp
    }
}

/// A user stack recovered from registers and a copy of the stack memory.
public struct UnwoundStack: Sendable, Equatable {
    /// Why the walk stopped.
    public enum End: Sendable, Equatable {
        /// At the outermost frame (its CFI marks the return address undefined, or it is 0).
        case complete
        /// The next return address lies beyond the copied stack: the copy was too short.
        case truncated
        /// No CFI and no usable frame pointer for this address (JIT code, a stripped file).
        case noUnwindInfo
        /// CFI this unwinder cannot follow, or values that make no sense (a CFA below the
        /// stack pointer, an address outside the copy's start).
        case unsupported
        /// `maxDepth` frames were found.
        case depthLimit
    }

    /// Leaf first: the interrupted instruction, then return addresses.
    public var addresses: [UInt64]
    public var end: End
    /// Frames found by following `rbp` because their code had no CFI.
    public var framePointerSteps: Int

    public init(addresses: [UInt64], end: End, framePointerSteps: Int = 0) {
        self.addresses = addresses
        self.end = end
        self.framePointerSteps = framePointerSteps
    }
}
