/// Loading an object failed: which step, on which map or program, and why.
///
/// Prints as one line, such as `load program handle_exec: map events: invalid argument`.
public struct LoadError: Error, CustomStringConvertible {
    public var context: String
    public var underlying: any Error

    public init(_ context: String, _ underlying: any Error) {
        self.context = context
        self.underlying = underlying
    }

    public var description: String { "\(context): \(underlying)" }

    /// The system call error at the bottom of the chain, if any.
    public var systemCallError: SystemCallError? {
        if let error = underlying as? SystemCallError { return error }
        return (underlying as? LoadError)?.systemCallError
    }
}

/// The verifier rejected a program. ``description`` is one line ending with the log's most
/// telling line; ``log`` holds the whole log and ``tail(lines:)`` its end.
public struct VerifierError: Error, CustomStringConvertible {
    public var program: String
    public var errno: Int32
    public var log: String

    public var description: String {
        let summary = tail(lines: 1).first.map { ": \($0)" } ?? ""
        return "load program \(program): verifier rejected it (\(errnoDescription(errno)))\(summary)"
    }

    /// The last meaningful lines of the log (statistics lines such as
    /// "processed N insns" are skipped: they say nothing about why).
    public func tail(lines count: Int) -> [String] {
        let lines = log.split(separator: "\n").map(String.init).filter {
            !$0.hasPrefix("processed ") && !$0.hasPrefix("verification time") && !$0.hasPrefix("stack depth")
                && !$0.trimmingSpaces.isEmpty
        }
        return Array(lines.suffix(count))
    }
}

extension String {
    var trimmingSpaces: Substring {
        let trimmed = drop { $0 == " " || $0 == "\t" }
        return trimmed.reversed().drop { $0 == " " || $0 == "\t" }.reversed().isEmpty ? "" : trimmed
    }
}
