#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import BPFKit
import Report
import Symbolize

/// `bpfkit symbolize`: addresses to function names — of a live process (what `addr2line`
/// does for a file, for a running program, its shared libraries, vDSO and JIT map), of an ELF
/// file (its virtual addresses, like `llvm-symbolizer --obj`), or of the kernel.
public struct SymbolizeCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "symbolize",
        abstract: "Turn addresses into function names: of a live process, an ELF file or the kernel.",
        discussion: """
            Addresses are hexadecimal (0x optional), from the arguments or, without any, from \
            standard input (whitespace separated). One line is printed per address: the function, \
            or [unknown] ([module+0xoffset] with --show-module).
            """)

    @Option(name: .shortAndLong, help: "Symbolize addresses of this process.")
    var pid: Int32?

    @Option(name: .shortAndLong, help: "Symbolize virtual addresses of this ELF file.")
    var elf: String?

    @Flag(name: .shortAndLong, help: "Symbolize kernel addresses (from /proc/kallsyms).")
    var kernel = false

    @Flag(name: [.customShort("C"), .long], help: "Demangle C++, Rust and Swift names (Swift in full).")
    var demangle = false

    @Flag(help: "Demangle, with Swift names simplified as in Swift backtraces.")
    var simplified = false

    @Flag(name: .customLong("show-module"), help: "Print unresolved addresses as [module+0xoffset].")
    var showModule = false

    @Flag(name: .customLong("show-offset"), help: "Append +0xoffset (into the function) to names.")
    var showOffset = false

    @Flag(help: "Print counts and timings (load, lookups) on standard error.")
    var stats = false

    @Argument(help: "Addresses, in hexadecimal.")
    var addresses: [String] = []

    public init() {}

    public func validate() throws {
        let targets = (pid == nil ? 0 : 1) + (elf == nil ? 0 : 1) + (kernel ? 1 : 0)
        if targets != 1 { throw ValidationError("give exactly one of --pid, --elf and --kernel") }
        for text in addresses where Self.parseAddress(Substring(text)) == nil {
            throw ValidationError("'\(text)' is not a hexadecimal address")
        }
    }

    public func run() throws {
        try reportingFailures(tool: "symbolize") {
            let style: Demangler.Style? = simplified ? .simplified : demangle ? .full : nil
            let parsed = addresses.isEmpty ? Self.parseAddresses(Self.readStandardInput()) : addresses.compactMap { Self.parseAddress(Substring($0)) }

            let start = Clock.monotonicNanoseconds()
            let symbolize = try makeSymbolizer(style: style)
            let loaded = Clock.monotonicNanoseconds()
            var text = ""
            text.reserveCapacity(parsed.count * 48)
            for address in parsed {
                text += symbolize(address)
                text += "\n"
            }
            let done = Clock.monotonicNanoseconds()
            Output.standardOutput.write(text)
            if stats {
                func ms(_ nanoseconds: UInt64) -> String { Columns.fixed(Double(nanoseconds) / 1e6, decimals: 3) }
                Output.standardError.line("addresses \(parsed.count) load_ms \(ms(loaded - start)) symbolize_ms \(ms(done - loaded))")
            }
        }
    }

    /// A function from address to output line for the chosen target; loading happens here.
    private func makeSymbolizer(style: Demangler.Style?) throws -> (UInt64) -> String {
        let showModule = showModule, showOffset = showOffset
        if let pid {
            guard kill(pid, 0) == 0 || errno == EPERM else { throw ValidationError("process \(pid) does not exist") }
            let symbolizer = ProcessSymbolizer(pid: pid, demangle: style)
            return { symbolizer.symbolize($0).text(showModule: showModule, showOffset: showOffset) }
        }
        if let elf {
            let table = try ElfSymbolCache.shared.table(forFileAt: elf)
            let module = elf.split(separator: "/").last.map(String.init) ?? elf
            return { address in
                guard let (name, offset) = table.symbolize(virtualAddress: address, demangle: style) else {
                    return Frame(name: nil, module: module, moduleOffset: address).text(showModule: showModule)
                }
                return Frame(name: name, offset: offset).text(showModule: showModule, showOffset: showOffset)
            }
        }
        let kernel = try KernelSymbols.load()
        return { address in
            guard let symbol = kernel.symbolize(address) else { return "[unknown]" }
            var name = Frame(name: symbol.name, offset: symbol.offset).text(showModule: false, showOffset: showOffset)
            if showModule, let module = symbol.module { name += " [\(module)]" }
            return name
        }
    }

    /// Hexadecimal with or without `0x`; nil for anything else.
    static func parseAddress(_ text: Substring) -> UInt64? {
        var digits = text
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        return UInt64(digits, radix: 16)
    }

    /// The hexadecimal words of `bytes` (blank separated); other words are skipped.
    static func parseAddresses(_ bytes: [UInt8]) -> [UInt64] {
        var result: [UInt64] = []
        var index = 0
        while index < bytes.count {
            while index < bytes.count, bytes[index] <= 0x20 { index += 1 }
            let start = index
            while index < bytes.count, bytes[index] > 0x20 { index += 1 }
            var digits = start
            if index - start > 2, bytes[start] == UInt8(ascii: "0"), bytes[start + 1] | 0x20 == UInt8(ascii: "x") { digits += 2 }
            guard index > digits, index - digits <= 16 else { continue }
            var value: UInt64 = 0
            var valid = true
            for byte in bytes[digits..<index] {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value << 4 | UInt64(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): value = value << 4 | UInt64(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): value = value << 4 | UInt64(byte - UInt8(ascii: "A") + 10)
                default: valid = false
                }
            }
            if valid { result.append(value) }
        }
        return result
    }

    private static func readStandardInput() -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return bytes
    }
}
