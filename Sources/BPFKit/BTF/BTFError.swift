/// BTF that cannot be parsed, or a type it lacks.
public struct BTFError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "BTF: \(message)" }
}
