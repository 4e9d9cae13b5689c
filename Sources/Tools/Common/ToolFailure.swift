import ArgumentParser
import BPFKit
import Report

/// Prints any error a tool hit as one line (plus the verifier log's tail for a rejected
/// program) on standard error, and exits non-zero: never a trap or a backtrace.
func reportingFailures(tool: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as VerifierError {
        Output.standardError.line("bpfkit \(tool): \(error)")
        let tail = error.tail(lines: 12)
        if !tail.isEmpty {
            Output.standardError.line("verifier log (last \(tail.count) lines):")
            for line in tail { Output.standardError.line("  " + line) }
        }
        throw ExitCode(1)
    } catch {
        let errno = (error as? SystemCallError)?.errno ?? (error as? LoadError)?.systemCallError?.errno
        if errno == 1 || errno == 13 {
            Output.standardError.line("bpfkit \(tool): \(error) (BPF tracing needs root, or CAP_BPF and CAP_PERFMON)")
            throw ExitCode(1)
        }
        Output.standardError.line("bpfkit \(tool): \(error)")
        throw ExitCode(1)
    }
}

/// Reports events a full ring buffer refused, as bcc and libbpf-tools do at exit.
func reportLostEvents(_ object: BPFObject) {
    if let lost = try? object.global("lost_events", as: UInt64.self), lost > 0 {
        Output.standardError.line("Lost \(lost) events (ring buffer full)")
    }
}

/// Turns a C char array (imported as a tuple) into a String, stopping at the first NUL.
func cString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { bytes in
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}
