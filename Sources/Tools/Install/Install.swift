#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import BPFKit
import Report

/// `bpfkit install --prefix DIR`: the binary in DIR/bin, a link per tool named as bcc names
/// it (the binary picks the tool from argv[0]), and completion scripts for bash, zsh and
/// fish — for `bpfkit` and for each link — where those shells look under DIR/share.
public struct Install: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Install links named after each tool (execsnoop, biolatency, …) and shell completions.",
        discussion: """
            Writes PREFIX/bin/bpfkit (a copy of this binary, unless --no-copy), a link \
            PREFIX/bin/TOOL -> bpfkit for every tool, and completion scripts in \
            PREFIX/share/bash-completion/completions, PREFIX/share/zsh/site-functions and \
            PREFIX/share/fish/vendor_completions.d. Existing links are replaced; other files \
            in the way are left alone and reported.
            """)

    @Option(help: "Installation prefix (for example /usr/local).")
    var prefix: String

    @Flag(help: "Link to this binary where it is instead of copying it to PREFIX/bin.")
    var noCopy = false

    public init() {}

    public func validate() throws {
        if prefix.isEmpty { throw ValidationError("--prefix must not be empty") }
    }

    public func run() throws {
        do {
            try install()
        } catch let failure as InstallFailure {
            Output.standardError.line("bpfkit install: \(failure.message)")
            throw ExitCode(1)
        }
    }

    struct InstallFailure: Error { var message: String }

    private func install() throws {
        let bin = prefix + "/bin"
        let completions = [
            (CompletionShell.bash, prefix + "/share/bash-completion/completions", { (name: String) in name }),
            (CompletionShell.zsh, prefix + "/share/zsh/site-functions", { (name: String) in "_" + name }),
            (CompletionShell.fish, prefix + "/share/fish/vendor_completions.d", { (name: String) in name + ".fish" }),
        ]
        for directory in [bin] + completions.map(\.1) { try makeDirectories(directory) }

        // The binary, then the links to it.
        guard let executable = Self.executablePath() else { throw InstallFailure(message: "cannot find this program's own path (/proc/self/exe)") }
        let target: String
        if noCopy {
            target = executable
        } else {
            target = "bpfkit"
            try copy(executable, to: bin + "/bpfkit")
        }
        var linked = 0, skipped: [String] = []
        for tool in allTools where tool != Install.self {
            let name = tool.configuration.commandName ?? ""
            guard !name.isEmpty else { continue }
            let path = bin + "/" + name
            var status = stat()
            if lstat(path, &status) == 0 {
                guard status.st_mode & S_IFMT == S_IFLNK else {
                    skipped.append(path)
                    continue
                }
                unlink(path)
            }
            guard symlink(target, path) == 0 else { throw InstallFailure(message: "cannot link \(path): \(Self.lastError())") }
            linked += 1
        }

        // Completions: the multi-call command, and each tool as its link runs it.
        var scripts = 0
        for (shell, directory, fileName) in completions {
            try write(BPFKitCommand.completionScript(for: shell), to: directory + "/" + fileName("bpfkit"))
            scripts += 1
            for tool in allTools where tool != Install.self {
                guard let name = tool.configuration.commandName, !name.isEmpty else { continue }
                try write(tool.completionScript(for: shell), to: directory + "/" + fileName(name))
                scripts += 1
            }
        }
        Output.standardOutput.line("installed \(noCopy ? executable : bin + "/bpfkit"), \(linked) tool links in \(bin), "
            + "\(scripts) completion scripts (bash, zsh, fish) under \(prefix)/share")
        for path in skipped { Output.standardError.line("bpfkit install: left \(path) alone: it exists and is not a link") }
    }

    /// `mkdir -p`.
    private func makeDirectories(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw InstallFailure(message: "cannot create \(current): \(Self.lastError())")
            }
        }
    }

    /// Copies through a temporary file and a rename, so a running copy is never overwritten
    /// in place.
    private func copy(_ source: String, to destination: String) throws {
        var sourceStatus = stat(), destinationStatus = stat()
        if stat(source, &sourceStatus) == 0, stat(destination, &destinationStatus) == 0,
           sourceStatus.st_dev == destinationStatus.st_dev, sourceStatus.st_ino == destinationStatus.st_ino {
            return  // installing the installed binary onto itself
        }
        guard let bytes = readFileBytes(source) else { throw InstallFailure(message: "cannot read \(source): \(Self.lastError())") }
        let temporary = destination + ".new"
        try writeBytes(bytes, to: temporary, mode: 0o755)
        guard rename(temporary, destination) == 0 else {
            unlink(temporary)
            throw InstallFailure(message: "cannot write \(destination): \(Self.lastError())")
        }
    }

    private func write(_ text: String, to path: String) throws {
        try writeBytes(Array(text.utf8), to: path, mode: 0o644)
    }

    private func writeBytes(_ bytes: [UInt8], to path: String, mode: mode_t) throws {
        unlink(path)
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw InstallFailure(message: "cannot write \(path): \(Self.lastError())") }
        defer { close(descriptor) }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw InstallFailure(message: "cannot write \(path): \(Self.lastError())") }
            written += count
        }
        fchmod(descriptor, mode)
    }

    static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }
}
