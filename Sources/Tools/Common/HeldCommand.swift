import ArgumentParser
import BPFKit
import CBPF

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A command started held: its process exists (so probes can be attached to its pid) but
/// runs nothing until ``release()``, so a tracer sees it from its first instruction.
/// bcc's `-c COMMAND`.
final class HeldCommand {
    let pid: UInt32
    private var gate: Int32
    private var errors: Int32
    private var exited: FileDescriptor?

    /// Forks the held process for `command` (split at spaces, as bcc does; the program is
    /// looked up in PATH).
    init(_ command: String) throws {
        let words = command.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard !words.isEmpty else { throw ValidationError("empty command") }
        // Fail before anything is loaded when the program is not there (exec would fail later).
        guard Self.findProgram(words[0]) else {
            throw ValidationError("cannot run the command: \(String(cString: strerror(ENOENT)))")
        }
        var arguments: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { for argument in arguments { free(argument) } }
        var gate: Int32 = -1
        var errors: Int32 = -1
        let result = cbpf_spawn_held(&arguments, &gate, &errors)
        guard result > 0 else { throw SystemCallError(call: "fork", errno: -result) }
        pid = UInt32(result)
        self.gate = gate
        self.errors = errors
    }

    /// Whether `name` is an executable file (a path), or one in a PATH directory.
    private static func findProgram(_ name: String) -> Bool {
        if name.contains("/") { return access(name, X_OK) == 0 }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").contains { access("\($0)/\(name)", X_OK) == 0 }
    }

    /// Lets the command run; fails when it could not be executed.
    func release() throws {
        guard gate >= 0 else { return }
        let result = cbpf_release_held(gate, errors)
        gate = -1
        errors = -1
        if result < 0 {
            reap()
            throw ValidationError("cannot run the command: \(String(cString: strerror(-result)))")
        }
    }

    /// A descriptor readable once the command exits (for ``EventLoop/stop(whenExits:)``).
    func exitDescriptor() throws -> Int32 {
        if let exited { return exited.rawValue }
        let fd = cbpf_pidfd_open(Int32(pid))
        guard fd >= 0 else { throw SystemCallError(call: "pidfd_open", errno: -fd) }
        exited = FileDescriptor(owning: fd)
        return fd
    }

    /// Collects the exit status of a command that ended (no zombie is left behind).
    func reap() {
        _ = cbpf_reap(Int32(pid))
    }

    deinit {
        // Never released (the tool failed while attaching): the child sees the gate close and exits.
        if gate >= 0 {
            close(gate)
            close(errors)
            var status: Int32 = 0
            waitpid(pid_t(pid), &status, 0)
        }
    }
}
