/// A file that is not a well-formed ELF64 little-endian object.
public struct ELFError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "malformed ELF: \(message)" }
}
