#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Colours chosen per function name, kept in a file between runs (flamegraph.pl's `--cp`,
/// `palette.map`): one `NAME->rgb(R,G,B)` per line. A name already in the map keeps its
/// colour in every graph drawn with the map; new names are added as they are drawn.
public struct PaletteMap: Sendable, Equatable {
    public private(set) var colors: [String: RGB] = [:]

    public init() {}

    /// Loads a map file; a missing file gives an empty map (the first run creates it).
    public init(path: String) throws(FlameGraphError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            if errno == ENOENT { return }
            throw .system("open", path, errno: errno)
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw .system("read", path, errno: errno)
            }
            if got == 0 { break }
            bytes += chunk[0..<got]
        }
        parse(String(decoding: bytes, as: UTF8.self))
    }

    /// Adds the entries of map-file text; malformed lines are skipped.
    public mutating func parse(_ text: String) {
        for line in text.split(separator: "\n") {
            guard let arrow = line.firstRange(of: "->") else { continue }
            guard let color = RGB(parsing: line[arrow.upperBound...]) else { continue }
            colors[String(line[..<arrow.lowerBound])] = color
        }
    }

    public subscript(name: String) -> RGB? {
        get { colors[name] }
        set { colors[name] = newValue }
    }

    /// The map as file text, sorted by name.
    public var text: String {
        colors.keys.sorted().map { "\($0)->\(colors[$0]!)\n" }.joined()
    }

    /// Writes the map file (created or replaced).
    public func save(path: String) throws(FlameGraphError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .system("open", path, errno: errno) }
        defer { close(descriptor) }
        let output = OutputBuffer(descriptor: descriptor)
        output.append(text)
        output.flush()
        if let failure = output.failure { throw failure }
    }
}
