/// A BPF object whose contents do not make sense: a missing section, a relocation that
/// points nowhere, a map definition BPFKit cannot read.
public struct ObjectError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
