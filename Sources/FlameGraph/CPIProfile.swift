#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Cycles-per-instruction flame graphs: frames as wide as the cycles spent in them,
/// coloured by how those cycles were used — red where instructions retire quickly
/// (instruction-heavy code), blue where cycles pass without retiring instructions
/// (stall-heavy code: cache misses, branch mispredictions, dependency chains).
///
/// Input is folded stacks with two counts per line, cycles then instructions (as
/// `bpfkit profile --cpi -f` prints them): `main;parse;memchr 1200000 2400000`. The colour of
/// a frame comes from the CPI of everything under it (each function counted once per stack),
/// compared with the whole profile's CPI: saturated red at a quarter of it, white at it,
/// saturated blue at four times it. Colours go to the renderer as a ``PaletteMap``, so the
/// renderer draws them without a mode of its own.
///
/// ```swift
/// let profile = CPIProfile(parsing: "main;spin 900 1800\nmain;chase 900 150\n")
/// var map: PaletteMap? = profile.paletteMap()      // spin red, chase blue
/// let svg = SVGRenderer(options: options).render(profile.stacks(), paletteMap: &map).svg
/// ```
public struct CPIProfile: Sendable {
    public struct Stack: Sendable, Equatable {
        public var frames: [String]
        public var cycles: Double
        public var instructions: Double

        public init(frames: [String], cycles: Double, instructions: Double) {
            self.frames = frames
            self.cycles = cycles
            self.instructions = instructions
        }
    }

    public private(set) var stacks: [Stack] = []
    /// Lines that were not `frames cycles instructions`.
    public private(set) var invalidLineCount = 0

    public init(stacks: [Stack] = []) {
        self.stacks = stacks
    }

    /// Parses folded lines with two counts each; other lines are counted as invalid.
    public init(parsing text: String) {
        for line in text.split(separator: "\n") where !line.isEmpty {
            let fields = line.split(separator: " ")
            guard fields.count >= 3, let instructions = Double(fields[fields.count - 1]), let cycles = Double(fields[fields.count - 2]),
                  cycles >= 0, instructions >= 0, cycles.isFinite, instructions.isFinite
            else {
                invalidLineCount += 1
                continue
            }
            let stack = fields.dropLast(2).joined(separator: " ")
            stacks.append(Stack(frames: stack.split(separator: ";").map(String.init), cycles: cycles, instructions: instructions))
        }
    }

    public var totalCycles: Double { stacks.reduce(0) { $0 + $1.cycles } }
    public var totalInstructions: Double { stacks.reduce(0) { $0 + $1.instructions } }

    /// Cycles per instruction; nil without instructions.
    public static func cpi(cycles: Double, instructions: Double) -> Double? {
        instructions > 0 ? cycles / instructions : nil
    }

    /// The whole profile's CPI.
    public var cpi: Double? { Self.cpi(cycles: totalCycles, instructions: totalInstructions) }

    /// Each function's cycles and instructions, over the stacks it appears in (once per stack).
    public func totalsByFunction() -> [String: (cycles: Double, instructions: Double)] {
        var totals: [String: (cycles: Double, instructions: Double)] = [:]
        for stack in stacks {
            for name in Set(stack.frames) {
                totals[name, default: (0, 0)].cycles += stack.cycles
                totals[name, default: (0, 0)].instructions += stack.instructions
            }
        }
        return totals
    }

    /// The colour for a CPI against the profile's `reference` CPI: log2 of the ratio, clamped
    /// to ±2 (four times either way), from red (fast) through white to blue (stalled). No
    /// instructions at all (only stalls) is full blue.
    public static func color(cpi: Double?, reference: Double) -> RGB {
        guard let cpi, cpi > 0, reference > 0 else { return RGB(0, 0, 255) }
        let position = max(-1, min(1, log2(cpi / reference) / 2))
        let fade = 1 - abs(position)
        let strong = 255.0
        let faded = (strong * fade).rounded()
        return position < 0
            ? RGB(clamping: strong, faded, faded)      // red: fewer cycles per instruction
            : RGB(clamping: faded, faded, strong)      // blue: more cycles per instruction
    }

    /// Colours for every function name, for ``SVGRenderer``.
    public func paletteMap() -> PaletteMap {
        var map = PaletteMap()
        let reference = cpi ?? 1
        for (name, total) in totalsByFunction() {
            map[name] = Self.color(cpi: Self.cpi(cycles: total.cycles, instructions: total.instructions), reference: reference)
        }
        return map
    }

    /// The stacks weighted by cycles, for drawing.
    public func foldedStacks() -> FoldedStacks {
        var folded = FoldedStacks()
        for stack in stacks where stack.cycles > 0 { folded.add(stack.frames, count: stack.cycles) }
        return folded
    }
}
