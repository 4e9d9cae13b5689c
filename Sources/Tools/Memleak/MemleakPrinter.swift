import Report
import ToolEvents

/// memleak's output: bcc's report (a header, `N bytes in M allocations from stack` and the
/// frames, largest stack last), its -t call lines, or one JSON object per stack.
struct MemleakPrinter {
    var symbolizer: StackSymbolizer
    var json: Bool
    var showAllocs: Bool
    var output = Output.standardOutput

    func print(_ outstanding: OutstandingAllocations, top: Int) {
        let time = Clock.wallTime()
        if json {
            if showAllocs {
                for allocation in outstanding.allocations {
                    output.line(JSON.object([
                        ("time", .string(time)), ("address", .unsigned(allocation.address)), ("size", .unsigned(allocation.size)),
                    ]).serialized())
                }
            }
            for stack in outstanding.top(top) {
                output.line(JSON.object([
                    ("time", .string(time)), ("bytes", .unsigned(stack.bytes)), ("allocations", .unsigned(stack.allocations)),
                    ("stack", .array(frames(stack).map { .string($0.name) })),
                ]).serialized())
            }
        } else {
            var text = "[\(time)] Top \(top) stacks with outstanding allocations:\n"
            if showAllocs {
                for allocation in outstanding.allocations {
                    text += "\taddr = \(hex(allocation.address)) size = \(allocation.size)\n"
                }
            }
            for stack in outstanding.top(top) {
                text += "\t\(stack.bytes) bytes in \(stack.allocations) allocations from stack\n"
                for frame in frames(stack) {
                    text += "\t\t" + (frame.address.map { "0x" + hex($0, width: 16) + "\t" } ?? "") + frame.name + "\n"
                }
            }
            output.write(text)
        }
    }

    /// -t: one line per allocation or free, as bcc's trace messages word them.
    func printCall(_ event: memleak_event) {
        let isAlloc = event.kind == MEMLEAK_ALLOC.rawValue
        if json {
            output.line(JSON.object([
                ("call", .string(isAlloc ? "alloc" : "free")), ("pid", .unsigned(UInt64(event.pid))),
                ("address", .unsigned(event.address)), ("size", .unsigned(event.size)),
            ]).serialized())
        } else if isAlloc {
            output.line("alloc exited, size = \(event.size), result = \(hex(event.address))")
        } else {
            output.line("free entered, address = \(hex(event.address)), size = \(event.size)")
        }
    }

    /// The stack's frames, leaf first, each with its address where the names line up with
    /// the addresses (the symbolizer drops the tracer's own frames from kernel stacks).
    private func frames(_ stack: OutstandingAllocations.Stack) -> [(address: UInt64?, name: String)] {
        let level = stack.level
        let isUser = level.kernelStack.isEmpty && level.kernelStackError == StackSamples.efault
        let names = isUser ? symbolizer.userFrames(level) : symbolizer.kernelFrames(level)
        let addresses = isUser ? level.userStack : level.kernelStack
        guard names.count <= addresses.count else { return names.map { (nil, $0) } }
        return zip(addresses.suffix(names.count), names).map { ($0, $1) }
    }

    private func hex(_ value: UInt64, width: Int = 0) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
