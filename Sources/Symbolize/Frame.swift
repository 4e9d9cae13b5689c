/// One user-space stack address, symbolized: the function (when known), where it falls in its
/// module, and how tools print it.
///
/// ```swift
/// let frame = ProcessSymbolizer(pid: 1234).symbolize(0x7f3a_1c02_9d15)
/// frame.text(showModule: false)                     // "malloc", or "[unknown]"
/// frame.text(showModule: true)                      // "malloc", or "[libc.so.6+0x9d15]"
/// frame.text(showModule: false, showOffset: true)   // "malloc+0x25"
/// ```
public struct Frame: Sendable, Equatable {
    /// The function (demangled as the symbolizer was asked), nil when unresolved.
    public var name: String?
    /// The address minus the function's start (0 when unresolved).
    public var offset: UInt64
    /// The file name of the mapping (`libc.so.6`), `[vdso]`, or `perf-PID.map` for JIT
    /// frames; nil for anonymous memory or an address outside every mapping.
    public var module: String?
    /// The address relative to the module: its ELF virtual address (what `addr2line -e` and
    /// `llvm-symbolizer --obj` take) when the file was read, otherwise the file offset.
    public var moduleOffset: UInt64

    public init(name: String?, offset: UInt64 = 0, module: String? = nil, moduleOffset: UInt64 = 0) {
        self.name = name
        self.offset = offset
        self.module = module
        self.moduleOffset = moduleOffset
    }

    /// An unresolved address with no module.
    public static let unknown = Frame(name: nil)

    /// `name` (with `+0x…` when `showOffset`); unresolved, `[unknown]`, or with `showModule`
    /// and a known module, `[libfoo.so+0x1234]` (`[vdso+0x…]` for special mappings).
    public func text(showModule: Bool, showOffset: Bool = false) -> String {
        if let name {
            return showOffset ? name + "+0x" + String(offset, radix: 16) : name
        }
        guard showModule, var module else { return "[unknown]" }
        if module.hasPrefix("["), module.hasSuffix("]"), module.count > 2 {
            module = String(module.dropFirst().dropLast())
        }
        return "[" + module + "+0x" + String(moduleOffset, radix: 16) + "]"
    }
}
