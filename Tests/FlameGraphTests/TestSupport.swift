import Foundation
import FoundationXML
import Testing

@testable import FlameGraph

/// Golden files live beside the tests; `BPFKIT_RECORD=1 swift test` rewrites them.
enum Golden {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static var recording: Bool { ProcessInfo.processInfo.environment["BPFKIT_RECORD"] == "1" }

    static func text(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }

    /// Compares `actual` with the golden file `name` (or records it), reporting the first
    /// differing line.
    static func check(_ actual: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = directory.appendingPathComponent(name)
        if recording {
            try actual.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
            Issue.record("missing golden file \(name): run with BPFKIT_RECORD=1 to record it", sourceLocation: sourceLocation)
            return
        }
        if expected == actual { return }
        let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false)
        let line = zip(expectedLines, actualLines).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? min(expectedLines.count, actualLines.count)
        let saved = FileManager.default.temporaryDirectory.appendingPathComponent("actual-" + name)
        try? actual.write(to: saved, atomically: true, encoding: .utf8)
        Issue.record("""
            \(name) differs at line \(line + 1) (actual output saved to \(saved.path); BPFKIT_RECORD=1 re-records):
              expected: \(line < expectedLines.count ? String(expectedLines[line].prefix(300)) : "<end>")
              actual:   \(line < actualLines.count ? String(actualLines[line].prefix(300)) : "<end>")
            """, sourceLocation: sourceLocation)
    }
}

/// The frames of a rendered SVG, read back with an XML parser (which also proves the SVG is
/// well-formed XML).
struct ParsedSVG {
    struct Frame {
        var title: String
        var name: String
        var x: Double
        var y: Double
        var width: Double
        var fill: String
        var start: Double
        var count: Double
        var label: String?
    }

    var frames: [Frame] = []
    var root: [String: String] = [:]
    var texts: [String: String] = [:]

    init(_ svg: String) throws {
        let delegate = Delegate()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = delegate
        parser.shouldResolveExternalEntities = false
        guard parser.parse() else {
            throw ParseFailure(message: "not well-formed XML: \(parser.parserError.map(String.init(describing:)) ?? "?") at line \(parser.lineNumber)")
        }
        frames = delegate.frames
        root = delegate.root
        texts = delegate.texts
    }

    struct ParseFailure: Error, CustomStringConvertible { var message: String; var description: String { message } }

    /// The frames named `name` (annotations stripped, as drawn).
    func frames(named name: String) -> [Frame] { frames.filter { $0.name == name } }

    func frame(_ name: String) -> Frame? { frames.first { $0.name == name } }

    private final class Delegate: NSObject, XMLParserDelegate {
        var frames: [Frame] = []
        var root: [String: String] = [:]
        var texts: [String: String] = [:]
        private var inFrames = false
        private var depth = 0
        private var current: Frame?
        private var element = ""
        private var buffer = ""
        private var textID: String?

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            depth += 1
            element = name
            buffer = ""
            if name == "svg", depth == 1 { root = attributes }
            if name == "g", attributes["id"] == "frames" { inFrames = true; return }
            if inFrames, name == "g" { current = Frame(title: "", name: "", x: 0, y: 0, width: 0, fill: "", start: 0, count: 0) }
            if inFrames, name == "rect" {
                current?.x = Double(attributes["x"] ?? "") ?? .nan
                current?.y = Double(attributes["y"] ?? "") ?? .nan
                current?.width = Double(attributes["width"] ?? "") ?? .nan
                current?.fill = attributes["fill"] ?? ""
                current?.start = Double(attributes["fg:x"] ?? "") ?? .nan
                current?.count = Double(attributes["fg:w"] ?? "") ?? .nan
            }
            if !inFrames, name == "text" { textID = attributes["id"] }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { buffer += string }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            depth -= 1
            if inFrames, name == "title" {
                current?.title = buffer
                if let cut = buffer.range(of: " (", options: .backwards) { current?.name = String(buffer[..<cut.lowerBound]) }
            }
            if inFrames, name == "text" { current?.label = buffer }
            if inFrames, name == "g" {
                if let frame = current {
                    frames.append(frame)
                    current = nil
                } else {
                    inFrames = false
                }
            }
            if name == "text", let id = textID {
                texts[id] = buffer
                textID = nil
            }
            buffer = ""
        }
    }
}

/// A small deterministic generator (SplitMix64) for property tests.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}

enum RandomProfile {
    /// Frame names with spaces, punctuation, annotations and non-ASCII text, but never `;`,
    /// a newline, or a trailing number (which would read as a count).
    static let vocabulary = [
        "main", "do_work", "std::vector<int>::push_back", "java/util/HashMap.get", "read_[k]",
        "tcp sendmsg", "[unknown]", "Ωmega", "a&b<c>\"d\"", "x", "JIT code_[j]", "inline_[i]",
        "waker_[w]", "run (anonymous)", "0x7f12ab", "",
    ]

    /// `lines` random stacks (duplicates likely) with integer or fractional counts.
    static func stacks(lines: Int, maxDepth: Int, fractional: Bool, using rng: inout SeededGenerator) -> [FoldedStacks.Stack] {
        (0..<lines).map { _ in
            let depth = Int.random(in: 1...maxDepth, using: &rng)
            var frames = (0..<depth).map { _ in vocabulary.randomElement(using: &rng)! }
            // An empty frame name is legal in the middle, but a stack of one empty frame is
            // not a stack flamegraph.pl would write.
            if frames.allSatisfy(\.isEmpty) { frames[0] = "main" }
            let count = fractional && Bool.random(using: &rng)
                ? Double(Int.random(in: 1...4000, using: &rng)) / 8
                : Double(Int.random(in: 1...1000, using: &rng))
            return FoldedStacks.Stack(frames, count: count)
        }
    }

    static func text(_ stacks: [FoldedStacks.Stack]) -> String {
        stacks.map { $0.frames.joined(separator: ";") + " " + countText($0.count) + "\n" }.joined()
    }

    static func countText(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

/// A scratch directory removed when the value goes away.
final class ScratchDirectory {
    let url: URL

    init(_ name: String = "flamegraph") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("bpfkit-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func file(_ name: String, _ contents: String) throws -> String {
        let path = url.appendingPathComponent(name).path
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}
