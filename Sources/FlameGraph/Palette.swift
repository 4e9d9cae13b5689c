/// A colour as the SVG writes it: `rgb(r,g,b)`.
public struct RGB: Hashable, Sendable, CustomStringConvertible {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// From components in 0...255 (rounded down, clamped).
    init(clamping red: Double, _ green: Double, _ blue: Double) {
        func clamp(_ value: Double) -> UInt8 { UInt8(max(0, min(255, value))) }
        self.init(clamp(red), clamp(green), clamp(blue))
    }

    public var description: String { "rgb(\(red),\(green),\(blue))" }

    /// Parses `rgb(r,g,b)` or `#rrggbb`.
    public init?(parsing text: some StringProtocol) {
        let text = text.trimmingPrefix(" ")
        if text.hasPrefix("#"), text.count == 7 {
            guard let value = UInt32(text.dropFirst(), radix: 16) else { return nil }
            self.init(UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF))
            return
        }
        guard text.hasPrefix("rgb("), text.hasSuffix(")") else { return nil }
        let parts = text.dropFirst(4).dropLast().split(separator: ",").map { UInt8(String($0.filter { $0 != " " })) }
        guard parts.count == 3, let red = parts[0], let green = parts[1], let blue = parts[2] else { return nil }
        self.init(red, green, blue)
    }

    /// Mixed with white: `amount` 0 keeps the colour, 1 gives white.
    func tinted(_ amount: Double) -> RGB {
        func mix(_ value: UInt8) -> Double { Double(value) + (255 - Double(value)) * amount }
        return RGB(clamping: mix(red), mix(green), mix(blue))
    }

    var hex: String {
        let digits = Array("0123456789abcdef")
        var text = "#"
        for value in [red, green, blue] {
            text.append(digits[Int(value >> 4)])
            text.append(digits[Int(value & 0xF)])
        }
        return text
    }
}

/// Frame colour schemes, flamegraph.pl's `--colors`: what a flame graph's colours mean.
///
/// The colour families are flamegraph.pl's: `hot` (reds to yellows) for CPU, `io` (blues) for
/// off-CPU, `wakeup` (aqua), `chain` (off-CPU blue with waker frames `_[w]` in aqua), `mem`
/// (greens), the language palettes, and the single-hue ones. Frames annotated as kernel
/// (`_[k]`) are drawn in a pale tint of the palette, so kernel and user code stand apart in
/// every scheme; the language palettes use their own conventions (kernel orange, JIT green,
/// inlined aqua, C++ yellow, C red).
public enum Palette: String, CaseIterable, Sendable {
    case hot, mem, io, wakeup, chain, java, js, perl
    case red, green, blue, aqua, yellow, purple, orange

    /// The background flamegraph.pl picks for the palette.
    public var defaultBackground: Background {
        switch self {
        case .mem: .green
        case .io, .wakeup, .chain: .blue
        case .red, .green, .blue, .aqua, .yellow, .purple, .orange: .grey
        case .hot, .java, .js, .perl: .yellow
        }
    }

    /// The family a frame is drawn in, and whether it gets the kernel tint.
    enum Family {
        case hot, mem, io, red, green, blue, aqua, yellow, purple, orange
    }

    /// What the frame's name says about it.
    struct Traits {
        var annotation: UInt8 = 0  // k, j, i or w (from a `_[x]` suffix), else 0
        var hasDoubleColon = false
        var hasSlash = false
        var hasColon = false
        var isJavaPackage = false
        var mentionsPerl = false
        var hasJavaScriptPath = false
        var isSingleSpace = false
    }

    /// The annotation letter of `name` (`_[k]` gives `k`), or 0.
    static func annotation(of name: UnsafeBufferPointer<UInt8>) -> UInt8 {
        let count = name.count
        guard count >= 4, name[count - 4] == 0x5F, name[count - 3] == 0x5B, name[count - 1] == 0x5D else { return 0 }
        switch name[count - 2] {
        case 0x6B, 0x6A, 0x69, 0x77: return name[count - 2]  // k j i w
        default: return 0
        }
    }

    static func traits(of name: UnsafeBufferPointer<UInt8>) -> Traits {
        var traits = Traits()
        traits.annotation = annotation(of: name)
        let count = name.count
        var previous: UInt8 = 0
        var sawSlash = false
        for index in 0..<count {
            let byte = name[index]
            switch byte {
            case 0x3A:  // :
                traits.hasColon = true
                if previous == 0x3A { traits.hasDoubleColon = true }
            case 0x2F:  // /
                traits.hasSlash = true
                sawSlash = true
            case 0x2E:  // .
                if index + 2 < count, name[index + 1] == 0x6A, name[index + 2] == 0x73, sawSlash { traits.hasJavaScriptPath = true }
                if index + 2 < count, name[index + 1] == 0x70, name[index + 2] == 0x6C { traits.mentionsPerl = true }
            case 0x50:  // P
                if index + 3 < count, name[index + 1] == 0x65, name[index + 2] == 0x72, name[index + 3] == 0x6C { traits.mentionsPerl = true }
            default: break
            }
            previous = byte
        }
        traits.isSingleSpace = count == 1 && name[0] == 0x20
        // Java classes as JVM profilers print them: java/util/HashMap.get, Ljava/lang/Thread;…
        var start = 0
        if count > 0, name[0] == 0x4C { start = 1 }  // L
        for prefix in ["java/", "javax/", "jdk/", "net/", "org/", "com/", "io/", "sun/"] {
            let bytes = Array(prefix.utf8)
            if count - start >= bytes.count, (0..<bytes.count).allSatisfy({ name[start + $0] == bytes[$0] }) {
                traits.isJavaPackage = true
                break
            }
        }
        return traits
    }

    /// The family to draw `name` in, and whether it is a kernel frame to tint.
    func family(for name: UnsafeBufferPointer<UInt8>) -> (Family, kernelTint: Bool) {
        switch self {
        case .java:
            let traits = Self.traits(of: name)
            switch traits.annotation {
            case 0x6A: return (.green, false)  // JIT-compiled
            case 0x69: return (.aqua, false)  // inlined
            case 0x6B: return (.orange, false)  // kernel
            default: break
            }
            if traits.isJavaPackage { return (.green, false) }
            if traits.hasDoubleColon { return (.yellow, false) }  // C++
            return (.red, false)  // C
        case .js:
            let traits = Self.traits(of: name)
            if traits.annotation == 0x6A { return (traits.hasSlash ? .green : .aqua, false) }
            if traits.annotation == 0x6B { return (.orange, false) }
            if traits.hasDoubleColon { return (.yellow, false) }
            if traits.hasJavaScriptPath { return (.green, false) }
            if traits.hasColon { return (.aqua, false) }  // built-ins
            if traits.isSingleSpace { return (.green, false) }  // a missing symbol
            return (.red, false)
        case .perl:
            let traits = Self.traits(of: name)
            if traits.annotation == 0x6B { return (.orange, false) }
            if traits.hasDoubleColon { return (.yellow, false) }
            if traits.mentionsPerl { return (.green, false) }
            return (.red, false)
        case .chain:
            let annotation = Self.annotation(of: name)
            if annotation == 0x77 { return (.aqua, false) }  // waker stacks
            return (.blue, annotation == 0x6B)
        default:
            let kernel = Self.annotation(of: name) == 0x6B
            switch self {
            case .hot: return (.hot, kernel)
            case .mem: return (.mem, kernel)
            case .io: return (.io, kernel)
            case .wakeup, .aqua: return (.aqua, kernel)
            case .red: return (.red, kernel)
            case .green: return (.green, kernel)
            case .blue: return (.blue, kernel)
            case .yellow: return (.yellow, kernel)
            case .purple: return (.purple, kernel)
            default: return (.orange, kernel)
            }
        }
    }

    /// The colour of a frame, from three variation values in 0...1 (random, or hashed from the name).
    static func color(_ family: Family, kernelTint: Bool, _ v1: Double, _ v2: Double, _ v3: Double) -> RGB {
        let color: RGB
        switch family {
        case .hot: color = RGB(clamping: 205 + 50 * v3, 230 * v1, 55 * v2)
        case .mem: color = RGB(clamping: 0, 190 + 50 * v2, 210 * v1)
        case .io: color = RGB(clamping: 80 + 60 * v1, 80 + 60 * v1, 190 + 55 * v2)
        case .red: color = RGB(clamping: 200 + 55 * v1, 50 + 80 * v1, 50 + 80 * v1)
        case .green: color = RGB(clamping: 50 + 60 * v1, 200 + 55 * v1, 50 + 60 * v1)
        case .blue: color = RGB(clamping: 80 + 60 * v1, 80 + 60 * v1, 205 + 50 * v1)
        case .yellow: color = RGB(clamping: 175 + 55 * v1, 175 + 55 * v1, 50 + 20 * v1)
        case .purple: color = RGB(clamping: 190 + 65 * v1, 80 + 60 * v1, 190 + 65 * v1)
        case .aqua: color = RGB(clamping: 50 + 60 * v1, 165 + 55 * v1, 165 + 55 * v1)
        case .orange: color = RGB(clamping: 190 + 65 * v1, 90 + 65 * v1, 0)
        }
        return kernelTint ? color.tinted(0.45) : color
    }

    /// Variation values from the name alone, so a function keeps its colour across graphs:
    /// the first from its leading characters, the others from its trailing ones, with earlier
    /// characters weighing more (similar names get similar colours). A `module`` prefix and
    /// an annotation suffix are skipped.
    static func hashedVariation(_ name: UnsafeBufferPointer<UInt8>) -> (Double, Double, Double) {
        var start = 0
        var end = name.count
        if annotation(of: name) != 0 { end -= 4 }
        if let tick = name[start..<end].firstIndex(of: 0x60) { start = tick + 1 }  // module`function
        func weighted(_ indices: some Sequence<Int>) -> Double {
            var sum = 0.0
            var norm = 0.0
            var weight = 1.0
            for index in indices.prefix(12) {
                let byte = name[index]
                let value = Double((UInt32(byte) &* 0x9E37 ^ UInt32(byte) >> 2) % 29) / 28
                sum += value * weight
                norm += weight
                weight *= 0.68
            }
            return norm == 0 ? 0 : sum / norm
        }
        guard start < end else { return (0, 0, 0) }
        let forward = weighted(start..<end)
        let backward = weighted((start..<end).reversed())
        return (forward, backward, backward)
    }
}

/// The graph's background: a vertical gradient, or one colour.
public enum Background: Sendable, Equatable {
    case yellow, blue, green, grey
    case flat(RGB)

    /// Parses `yellow`, `blue`, `green`, `grey` (or `gray`) and `#rrggbb`.
    public init?(parsing text: String) {
        switch text.lowercased() {
        case "yellow": self = .yellow
        case "blue": self = .blue
        case "green": self = .green
        case "grey", "gray": self = .grey
        default:
            guard let color = RGB(parsing: text) else { return nil }
            self = .flat(color)
        }
    }

    /// Top and bottom colours.
    var stops: (String, String) {
        switch self {
        case .yellow: ("#eeeeee", "#eeeeb0")
        case .blue: ("#eeeeee", "#e0e0ff")
        case .green: ("#eef2ee", "#e0ffe0")
        case .grey: ("#f8f8f8", "#e8e8e8")
        case .flat(let color): (color.hex, color.hex)
        }
    }
}

/// The reproducible "random" colours: SplitMix64 from a fixed seed, so the same input
/// draws the same graph (golden files stay stable) while neighbouring frames still differ.
struct ColorVariation {
    private var state: UInt64 = 0x5DEE_CE66_D1CE_4E5B

    mutating func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        value ^= value >> 31
        return Double(value >> 11) / Double(1 << 53)
    }
}
