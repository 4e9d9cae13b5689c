#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Draws ``FoldedStacks`` as a standalone, interactive SVG flame graph that works offline in
/// any browser: hover a frame for its name, samples and percentage; click to zoom into it
/// (its ancestors stay, faded, below it); search by regular expression (Ctrl-F) to highlight
/// frames and see the share of samples they cover; Reset Zoom, Reset Search and `ic` (ignore
/// case) at the top.
///
/// Each frame's width is its count times the pixels per sample; siblings are drawn in
/// alphabetical order (or input order for a flame chart). Frames narrower than
/// ``FlameGraphOptions/minWidth`` are not drawn, nor anything above them: their samples still
/// widen their parents, and ``Summary/framesElided`` says how many were left out. That keeps
/// the SVG of a huge profile small and responsive.
///
/// A profile with a baseline (see ``DifferentialProfile``) is drawn as a differential flame
/// graph: sized by the "after" counts, each frame red where it grew and blue where it shrank,
/// the deeper the colour the larger the change relative to the largest.
///
/// ```swift
/// var stacks = FoldedStacks()
/// try stacks.read(path: "out.folded")
/// var options = FlameGraphOptions()
/// options.title = "CPU"
/// let summary = try SVGRenderer(options: options).write(stacks, toPath: "cpu.svg")
/// ```
public struct SVGRenderer: Sendable {
    public var options: FlameGraphOptions

    public init(options: FlameGraphOptions = FlameGraphOptions()) {
        self.options = options
    }

    /// What one render drew.
    public struct Summary: Sendable, Equatable {
        /// Frames drawn, counting the root ("all").
        public var framesDrawn = 0
        /// Frames left out for being narrower than the minimum width (or above such a frame).
        public var framesElided = 0
        /// The profile's total count (before ``FlameGraphOptions/factor``).
        public var totalCount = 0.0
        /// The deepest drawn frame's depth (the root is 0).
        public var depth = 0
        /// The SVG's size in bytes.
        public var bytes = 0
        /// Nothing to draw: the SVG says so.
        public var isEmpty = false
    }

    /// The SVG as text.
    public func render(_ stacks: FoldedStacks) -> String {
        var map: PaletteMap?
        return String(decoding: render(stacks, paletteMap: &map).svg, as: UTF8.self)
    }

    /// The SVG as bytes, and what was drawn. With a palette map, names in the map keep their
    /// colour and new names are added to it.
    public func render(_ stacks: FoldedStacks, paletteMap: inout PaletteMap?) -> (svg: [UInt8], summary: Summary) {
        let output = OutputBuffer()
        let summary = draw(stacks, into: output, paletteMap: &paletteMap)
        return (output.bytes, summary)
    }

    /// Writes the SVG to a file descriptor as it is made (about 1 MiB at a time).
    @discardableResult
    public func write(_ stacks: FoldedStacks, toFileDescriptor descriptor: Int32, paletteMap: inout PaletteMap?) throws(FlameGraphError) -> Summary {
        let output = OutputBuffer(descriptor: descriptor)
        let summary = draw(stacks, into: output, paletteMap: &paletteMap)
        output.flush()
        if let failure = output.failure { throw failure }
        return summary
    }

    /// Writes the SVG to a file (created or truncated; "-" is standard output).
    @discardableResult
    public func write(_ stacks: FoldedStacks, toPath path: String) throws(FlameGraphError) -> Summary {
        var map: PaletteMap?
        return try write(stacks, toPath: path, paletteMap: &map)
    }

    @discardableResult
    public func write(_ stacks: FoldedStacks, toPath path: String, paletteMap: inout PaletteMap?) throws(FlameGraphError) -> Summary {
        if path == "-" { return try write(stacks, toFileDescriptor: 1, paletteMap: &paletteMap) }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .system("open", path, errno: errno) }
        defer { close(descriptor) }
        return try write(stacks, toFileDescriptor: descriptor, paletteMap: &paletteMap)
    }

    // MARK: Geometry

    static let horizontalPad = 10.0
    private var topPad: Double { options.fontSize * 3 + (options.subtitle == nil ? 0 : options.fontSize * 2) }
    private var bottomPad: Double { options.fontSize * 2 + 10 }

    private func defaultTitle(differential: Bool) -> String {
        if options.flameChart { return "Flame Chart" }
        if options.inverted { return "Icicle Graph" }
        return differential ? "Differential Flame Graph" : "Flame Graph"
    }

    // MARK: Drawing

    private func draw(_ stacks: FoldedStacks, into output: OutputBuffer, paletteMap: inout PaletteMap?) -> Summary {
        let tree = stacks.frameTree
        return withExtendedLifetime(tree) { draw(tree, into: output, paletteMap: &paletteMap) }
    }

    private func draw(_ tree: FrameTree, into output: OutputBuffer, paletteMap: inout PaletteMap?) -> Summary {
        var summary = Summary()
        let nodeCount = tree.nodeCount
        let totals = tree.totals()
        defer { totals.deallocate() }
        let differential = tree.hasBaseline
        let baselineTotals = differential ? tree.totals(baseline: true) : RawArray<Double>(capacity: 4)
        defer { baselineTotals.deallocate() }
        let grandTotal = totals[0]
        summary.totalCount = grandTotal
        guard grandTotal > 0 else {
            drawEmpty(into: output)
            summary.isEmpty = true
            summary.bytes = output.count
            return summary
        }

        // Scale, and which frames are wide enough to draw.
        let pad = Self.horizontalPad
        let timeMax = max(grandTotal, options.total ?? 0, Double.leastNonzeroMagnitude)
        let scale = max(options.width - 2 * pad, 1) / timeMax
        let minCount: Double
        switch options.minWidth {
        case .pixels(let pixels): minCount = pixels / scale
        case .percent(let percent): minCount = timeMax * percent / 100
        }
        // Drawn frames get a dense index (`slot[node] - 1`); a frame is drawn when it is wide
        // enough and its parent is drawn. Ids ascend from parents to children, so one pass
        // decides, and the drawn frames come out in id order. The same pass counts the
        // children of each drawn frame (drawn or not: elided ones leave their gap).
        let links = tree.storage.links
        let counts = tree.storage.counts
        let slot = RawArray<UInt32>(zeroed: nodeCount)
        var drawnNodes = RawArray<UInt32>(capacity: 1024)
        var drawnDepths = RawArray<UInt32>(capacity: 1024)
        var childStarts = RawArray<Int>(capacity: 1024)
        defer {
            slot.deallocate()
            drawnNodes.deallocate()
            drawnDepths.deallocate()
            childStarts.deallocate()
        }
        slot[0] = 1
        drawnNodes.append(0)
        drawnDepths.append(0)
        childStarts.append(0)
        var markers = 0
        var maxDepth: UInt32 = 0
        for node in 1..<max(nodeCount, 1) {
            let link = links[node]
            let parentSlot = Int(slot[Int(link.parent)])
            if link.frame == FrameTree.selfMarker { markers += 1 }
            guard parentSlot != 0 else { continue }
            childStarts[parentSlot - 1] += 1
            guard link.frame != FrameTree.selfMarker, totals[node] >= minCount else { continue }
            let depth = drawnDepths[parentSlot - 1] + 1
            drawnNodes.append(UInt32(node))
            drawnDepths.append(depth)
            childStarts.append(0)
            slot[node] = UInt32(drawnNodes.count)
            if depth > maxDepth { maxDepth = depth }
        }
        let drawnCount = drawnNodes.count
        summary.framesDrawn = drawnCount
        summary.framesElided = nodeCount - markers - drawnCount
        summary.depth = Int(maxDepth)

        // Where each drawn frame starts, in samples: a parent's own samples first, then its
        // children in order. The children of drawn frames are gathered per parent
        // (compressed rows over the dense index).
        var running = 0
        for index in 0..<drawnCount {
            let count = childStarts[index]
            childStarts[index] = running
            running += count
        }
        childStarts.append(running)
        let childList = RawArray<UInt32>(zeroed: running)
        defer { childList.deallocate() }
        do {
            let fill = childStarts.copy()
            defer { fill.deallocate() }
            for node in 1..<max(nodeCount, 1) {
                let parentSlot = Int(slot[Int(links[node].parent)])
                guard parentSlot != 0 else { continue }
                childList[fill[parentSlot - 1]] = UInt32(node)
                fill[parentSlot - 1] += 1
            }
        }
        // (In a sorted-preorder tree, id order is name order already.)
        let sorted = !options.flameChart && tree.merging == .everywhere && !tree.isSortedPreorder
        let starts = RawArray<Double>(zeroed: drawnCount)
        defer { starts.deallocate() }
        for index in 0..<drawnCount {
            let siblings = UnsafeMutableBufferPointer(start: childList.base + childStarts[index],
                                                      count: childStarts[index + 1] - childStarts[index])
            if sorted { tree.sortByName(siblings) }
            var offset = starts[index] + counts[Int(drawnNodes[index])]
            for child in siblings {
                let childSlot = slot[Int(child)]
                if childSlot != 0 { starts[Int(childSlot) - 1] = offset }
                offset += totals[Int(child)]
            }
        }

        // The largest change of any one stack, which the deepest red or blue stands for.
        var maxDelta = 0.0
        if differential {
            let baseline = tree.storage.baseline
            for node in 1..<max(nodeCount, 1) {
                maxDelta = max(maxDelta, abs(counts[node] - baseline[node]))
            }
        }

        let imageHeight = Double(maxDepth + 1) * options.frameHeight + topPad + bottomPad
        let title = options.title ?? defaultTitle(differential: differential)
        writeHeader(into: output, height: imageHeight, title: title, timeMax: timeMax, summary: summary)

        // The frames.
        let fontSize = options.fontSize
        let frameHeight = options.frameHeight
        let rectHeight = max(frameHeight - 1, 0.5)
        let textOffset = (frameHeight - 1) / 2 + fontSize / 4 + 0.5
        let charWidth = max(fontSize * options.fontWidth, 0.01)
        var variation = ColorVariation()
        // Colour per name id (hash or palette-map colouring): 0 unknown, else 0x1RRGGBB.
        let names = tree.storage.names
        let nameColors = RawArray<UInt32>(zeroed: names.count)
        defer { nameColors.deallocate() }
        let cachesColors = options.colorByName || paletteMap != nil
        let rootName: StaticString = "all"
        let rootBytes = UnsafeBufferPointer(start: rootName.utf8Start, count: rootName.utf8CodeUnitCount)

        output.append("<g id=\"frames\">\n" as StaticString)
        // Depth first, siblings in drawing order: the order (and so the colours) do not
        // depend on how the profile was read.
        var pending: [Int] = [0]
        while let index = pending.popLast() {
            let siblings = UnsafeBufferPointer(start: childList.base + childStarts[index],
                                               count: childStarts[index + 1] - childStarts[index])
            for child in siblings.reversed() where slot[Int(child)] != 0 { pending.append(Int(slot[Int(child)]) - 1) }
            let node = Int(drawnNodes[index])
            let nameID = links[node].frame
            let name = node == 0 ? rootBytes : names.name(nameID)
            let display = Palette.annotation(of: name) != 0
                ? UnsafeBufferPointer(rebasing: name[0..<(name.count - 4)]) : name
            let total = totals[node]
            let x = pad + starts[index] * scale
            let width = total * scale
            let depth = Double(drawnDepths[index])
            let y = options.inverted
                ? topPad + depth * frameHeight
                : imageHeight - bottomPad - (depth + 1) * frameHeight

            // Colour.
            let color: RGB
            if differential {
                var delta = total - baselineTotals[node]
                if options.negate { delta = -delta }
                color = Self.differentialColor(delta: delta, maxDelta: maxDelta)
            } else if cachesColors, node != 0, nameColors[Int(nameID)] != 0 {
                let packed = nameColors[Int(nameID)]
                color = RGB(UInt8(packed >> 16 & 0xFF), UInt8(packed >> 8 & 0xFF), UInt8(packed & 0xFF))
            } else {
                let (family, tint) = options.palette.family(for: name)
                var chosen: RGB?
                var key: String?
                if paletteMap != nil {
                    key = String(decoding: name, as: UTF8.self)
                    chosen = paletteMap?[key!]
                }
                if chosen == nil {
                    let (v1, v2, v3) = options.colorByName
                        ? Palette.hashedVariation(name)
                        : (variation.next(), variation.next(), variation.next())
                    chosen = Palette.color(family, kernelTint: tint, v1, v2, v3)
                    if let key { paletteMap?[key] = chosen }
                }
                color = chosen!
                if cachesColors, node != 0 {
                    nameColors[Int(nameID)] = 1 << 24 | UInt32(color.red) << 16 | UInt32(color.green) << 8 | UInt32(color.blue)
                }
            }

            output.append("<g><title>" as StaticString)
            output.append(xmlEscaped: display)
            output.append(" (" as StaticString)
            output.append(grouped: total * options.factor)
            output.append(UInt8(ascii: " "))
            output.append(xmlEscaped: options.countName)
            output.append(", " as StaticString)
            output.append(fixed: 100 * total / timeMax, decimals: 2)
            output.append(UInt8(ascii: "%"))
            if differential {
                var delta = total - baselineTotals[node]
                if options.negate { delta = -delta }
                output.append("; " as StaticString)
                if delta > 0 { output.append(UInt8(ascii: "+")) }
                output.append(fixed: 100 * delta / timeMax, decimals: 2)
                output.append(UInt8(ascii: "%"))
            }
            output.append(")</title><rect x=\"" as StaticString)
            output.append(fixed: x, decimals: 2, trim: true)
            output.append("\" y=\"" as StaticString)
            output.append(fixed: y, decimals: 2, trim: true)
            output.append("\" width=\"" as StaticString)
            output.append(fixed: width, decimals: 2, trim: true)
            output.append("\" height=\"" as StaticString)
            output.append(fixed: rectHeight, decimals: 2, trim: true)
            output.append("\" fill=\"rgb(" as StaticString)
            output.append(unsigned: UInt64(color.red))
            output.append(UInt8(ascii: ","))
            output.append(unsigned: UInt64(color.green))
            output.append(UInt8(ascii: ","))
            output.append(unsigned: UInt64(color.blue))
            output.append(")\" fg:x=\"" as StaticString)
            output.append(count: starts[index])
            output.append("\" fg:w=\"" as StaticString)
            output.append(count: total)
            output.append("\"/>" as StaticString)
            let (labelEnd, truncated) = Self.label(display, fitting: (width - 3) / charWidth)
            if labelEnd > 0 || truncated {
                output.append("<text x=\"" as StaticString)
                output.append(fixed: x + 3, decimals: 2, trim: true)
                output.append("\" y=\"" as StaticString)
                output.append(fixed: y + textOffset, decimals: 2, trim: true)
                output.append("\">" as StaticString)
                output.append(xmlEscaped: UnsafeBufferPointer(rebasing: display[0..<labelEnd]))
                if truncated { output.append(".." as StaticString) }
                output.append("</text>" as StaticString)
            }
            output.append("</g>\n" as StaticString)
            output.flushIfFull()
        }
        output.append("</g>\n</svg>\n" as StaticString)
        summary.bytes = output.count
        return summary
    }

    /// How much of `name` fits in `characters` character widths: the byte length of the
    /// prefix to show and whether `..` follows it. Nothing fits below three characters.
    static func label(_ name: UnsafeBufferPointer<UInt8>, fitting characters: Double) -> (Int, Bool) {
        guard characters >= 3 else { return (0, false) }
        let limit = characters >= Double(name.count) ? name.count : Int(characters)
        // Count characters (UTF-8 lead bytes), noting where character `limit - 2` starts.
        var seen = 0
        var cut = 0
        for index in 0..<name.count where name[index] & 0xC0 != 0x80 {
            if seen == limit - 2 { cut = index }
            seen += 1
            if seen > limit { return (cut, true) }
        }
        return (name.count, false)
    }

    /// White for no change; red deepening with growth, blue with shrinkage.
    static func differentialColor(delta: Double, maxDelta: Double) -> RGB {
        guard maxDelta > 0, delta != 0 else { return RGB(255, 255, 255) }
        let strength = min(abs(delta) / maxDelta, 1)
        let fade = 210 * (1 - strength)
        return delta > 0 ? RGB(clamping: 255, fade, fade) : RGB(clamping: fade, fade, 255)
    }

    // MARK: Pieces

    private func writeHeader(into output: OutputBuffer, height: Double, title: String, timeMax: Double, summary: Summary) {
        let width = options.width
        let pad = Self.horizontalPad
        let fontSize = options.fontSize
        output.append("<?xml version=\"1.0\" standalone=\"no\"?>\n")
        output.append("<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n")
        output.append("<svg version=\"1.1\" width=\"")
        output.append(fixed: width, decimals: 2, trim: true)
        output.append("\" height=\"")
        output.append(fixed: height, decimals: 2, trim: true)
        output.append("\" onload=\"init(evt)\" viewBox=\"0 0 ")
        output.append(fixed: width, decimals: 2, trim: true)
        output.append(" ")
        output.append(fixed: height, decimals: 2, trim: true)
        output.append("\" xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" xmlns:fg=\"urn:bpfkit:flamegraph\" fg:total=\"")
        output.append(count: timeMax)
        output.append("\" fg:drawn=\"")
        output.append(integer: summary.framesDrawn)
        output.append("\" fg:elided=\"")
        output.append(integer: summary.framesElided)
        output.append("\">\n<!-- Flame graph by bpfkit flamegraph: ")
        output.append(integer: summary.framesDrawn)
        output.append(" frames drawn, ")
        output.append(integer: summary.framesElided)
        output.append(" narrower than ")
        output.append(options.minWidth.description)
        output.append(" elided. -->\n")
        if let notes = options.notes {
            output.append("<desc id=\"notes\">")
            output.append(xmlEscaped: notes)
            output.append("</desc>\n")
        }
        let (top, bottom) = (options.background ?? options.palette.defaultBackground).stops
        output.append("<defs><linearGradient id=\"background\" y1=\"0\" y2=\"1\" x1=\"0\" x2=\"0\"><stop stop-color=\"")
        output.append(top)
        output.append("\" offset=\"5%\"/><stop stop-color=\"")
        output.append(bottom)
        output.append("\" offset=\"95%\"/></linearGradient></defs>\n<style type=\"text/css\"><![CDATA[\ntext { font-family: ")
        output.append(Self.cssFontFamily(options.fontType))
        output.append("; font-size: ")
        output.append(fixed: fontSize, decimals: 2, trim: true)
        output.append("px; fill: rgb(0,0,0); }\n#title { text-anchor: middle; font-size: ")
        output.append(fixed: fontSize + 5, decimals: 2, trim: true)
        output.append("px; }\n")
        output.append(Self.style)
        output.append("]]></style>\n<script type=\"text/ecmascript\"><![CDATA[\nvar fgConfig = {xpad: ")
        output.append(fixed: pad, decimals: 2, trim: true)
        output.append(", width: ")
        output.append(fixed: width, decimals: 2, trim: true)
        output.append(", fontSize: ")
        output.append(fixed: fontSize, decimals: 2, trim: true)
        output.append(", fontWidth: ")
        output.append(fixed: options.fontWidth, decimals: 4, trim: true)
        output.append(", frameHeight: ")
        output.append(fixed: options.frameHeight, decimals: 2, trim: true)
        output.append(", rootY: ")
        output.append(fixed: options.inverted ? topPad : height - bottomPad - options.frameHeight, decimals: 2, trim: true)
        output.append(", inverted: ")
        output.append(options.inverted ? "true" : "false")
        output.append(", total: ")
        output.append(count: timeMax)
        output.append(", searchColor: ")
        output.append(Self.jsString(options.searchColor.description))
        output.append(", nameType: ")
        output.append(Self.jsString(options.nameType))
        output.append("};\n")
        output.append(Self.script)
        output.append("]]></script>\n<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"url(#background)\"/>\n")

        func text(_ id: StaticString, x: Double, y: Double, class className: StaticString? = nil, _ body: () -> Void) {
            output.append("<text id=\"")
            output.append(id)
            output.append("\"")
            if let className {
                output.append(" class=\"")
                output.append(className)
                output.append("\"")
            }
            output.append(" x=\"")
            output.append(fixed: x, decimals: 2, trim: true)
            output.append("\" y=\"")
            output.append(fixed: y, decimals: 2, trim: true)
            output.append("\">")
            body()
            output.append("</text>\n")
        }
        text("title", x: width / 2, y: fontSize * 2) { output.append(xmlEscaped: title) }
        if let subtitle = options.subtitle {
            text("subtitle", x: width / 2, y: fontSize * 4) { output.append(xmlEscaped: subtitle) }
        }
        text("details", x: pad, y: height - bottomPad / 2) { output.append(" ") }
        text("unzoom", x: pad, y: fontSize * 2, class: "hide") { output.append("Reset Zoom") }
        text("search", x: width - pad - 24, y: fontSize * 2) { output.append("Search") }
        text("ignorecase", x: width - pad, y: fontSize * 2) { output.append("ic") }
        text("matched", x: width - pad, y: height - bottomPad / 2) { output.append(" ") }
    }

    private func drawEmpty(into output: OutputBuffer) {
        let width = options.width
        output.append("<?xml version=\"1.0\" standalone=\"no\"?>\n<svg version=\"1.1\" width=\"")
        output.append(fixed: width, decimals: 2, trim: true)
        output.append("\" height=\"")
        output.append(fixed: options.fontSize * 5, decimals: 2, trim: true)
        output.append("\" xmlns=\"http://www.w3.org/2000/svg\">\n<text x=\"")
        output.append(fixed: width / 2, decimals: 2, trim: true)
        output.append("\" y=\"")
        output.append(fixed: options.fontSize * 2, decimals: 2, trim: true)
        output.append("\" text-anchor=\"middle\" style=\"font-family: ")
        output.append(xmlEscaped: Self.cssFontFamily(options.fontType))
        output.append("; font-size: ")
        output.append(fixed: options.fontSize + 5, decimals: 2, trim: true)
        output.append("px\">ERROR: no stack counts in the input</text>\n</svg>\n")
    }

    /// The font as a CSS family list, falling back to the generic sans-serif (a generic name
    /// given as the font stays unquoted).
    static func cssFontFamily(_ font: String) -> String {
        let generic = ["serif", "sans-serif", "monospace", "cursive", "fantasy", "system-ui"]
        if generic.contains(font.lowercased()) { return font.lowercased() }
        return cssString(font) + ", sans-serif"
    }

    /// A CSS string literal.
    static func cssString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"", "\\": result += "\\" + String(scalar)
            case "\n", "\r": result += " "
            case "<", "&", ">": result += "\\" + String(scalar.value, radix: 16) + " "
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// A JavaScript string literal that is also safe inside CDATA (no `]]>`, no `</`).
    static func jsString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "<", ">", "&", "]":
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
