import BPFKit

/// Why symbols could not be read: one lowercase line naming the file and the cause.
///
/// ```swift
/// do { _ = try ElfSymbolCache.shared.table(forFileAt: "/etc/passwd") }
/// catch { print(error) }   // "/etc/passwd: malformed ELF: bad magic"
/// ```
public struct SymbolizeError: Error, Equatable, CustomStringConvertible {
    public var message: String
    /// The file was read but is not a well-formed ELF file (as opposed to unreadable).
    public var isMalformedFile: Bool

    public init(_ message: String) {
        self.message = message
        self.isMalformedFile = false
    }

    /// `path: malformed ELF: …` for a file the ELF parser rejected.
    init(path: String, _ error: ELFError) {
        self.message = "\(path): \(error)"
        self.isMalformedFile = true
    }

    public var description: String { message }
}
