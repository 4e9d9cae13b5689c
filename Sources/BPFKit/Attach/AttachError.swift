/// A program could not be attached: the attach point is missing, or the kernel refused.
public struct AttachError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
