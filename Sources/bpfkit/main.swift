#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import Tools

/// Parses and runs `command`. A usage error (unknown flag, bad number, failed validation) is
/// one line on standard error and exit status 2, as bcc's tools do; help goes to standard
/// output with status 0; a tool's own failure has already printed its line and exits 1.
func run(_ command: any ParsableCommand.Type, _ arguments: [String], name: String) -> Never {
    do {
        var parsed = try command.parseAsRoot(arguments)
        try parsed.run()
        exit(0)
    } catch {
        let code = command.exitCode(for: error)
        if code == .success {
            print(command.fullMessage(for: error))
            exit(0)
        }
        if error is ExitCode { exit(code.rawValue) }
        let message = command.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
        let tool = name == "bpfkit" ? arguments.first.flatMap { first in
            allTools.first { $0.configuration.commandName == first }.map { _ in "bpfkit " + first } } ?? name : name
        let line = "\(tool): \(message) (see '\(tool) --help')\n"
        _ = line.utf8CString.withUnsafeBytes { write(2, $0.baseAddress, $0.count - 1) }
        exit(code == .validationFailure ? 2 : 1)
    }
}

DescriptorAudit.startIfRequested()
let invokedAs = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? "bpfkit"
let arguments = Array(CommandLine.arguments.dropFirst())
if let tool = allTools.first(where: { $0.configuration.commandName == invokedAs }) {
    run(tool, arguments, name: invokedAs)
} else {
    run(BPFKitCommand.self, arguments, name: "bpfkit")
}
