import Foundation
import Testing

@Suite("bpfkit install")
struct InstallTests {
    @Test("Links with the tools' names run the tool; completion scripts for bash, zsh and fish")
    func install() throws {
        let prefix = NSTemporaryDirectory() + uniqueMarker("install")
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        let run = try ToolRun(["install", "--prefix", prefix])
        #expect(run.waitForExit(timeout: 30) == 0, "stderr: \(run.stderr)")

        // Through the link, argv[0] picks the tool.
        let link = prefix + "/bin/execsnoop"
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "bpfkit")
        let help = try ToolRun(link, ["--help"])
        #expect(help.waitForExit() == 0)
        let drained = Date().addingTimeInterval(3)
        while !help.stdout.contains("USAGE: execsnoop") && Date() < drained { Thread.sleep(forTimeInterval: 0.02) }
        #expect(help.stdout.contains("USAGE: execsnoop"), "\(help.stdout.prefix(300))")
        #expect(help.stdout.contains("--json"))
        for tool in ["biolatency", "runqlat", "profile", "offcputime", "checklist"] {
            #expect(FileManager.default.isExecutableFile(atPath: prefix + "/bin/" + tool), "\(tool) link missing")
        }
        #expect(!FileManager.default.fileExists(atPath: prefix + "/bin/install"))

        for path in ["share/bash-completion/completions/bpfkit", "share/bash-completion/completions/execsnoop",
                     "share/zsh/site-functions/_bpfkit", "share/zsh/site-functions/_execsnoop",
                     "share/fish/vendor_completions.d/bpfkit.fish", "share/fish/vendor_completions.d/execsnoop.fish"] {
            let size = (try? FileManager.default.attributesOfItem(atPath: prefix + "/" + path)[.size] as? Int) ?? 0
            #expect(size > 0, "\(path) missing or empty")
        }
        let bash = try String(contentsOfFile: prefix + "/share/bash-completion/completions/execsnoop", encoding: .utf8)
        #expect(bash.contains("complete") && bash.contains("execsnoop"))

        // Installing again replaces the links.
        let again = try ToolRun(["install", "--prefix", prefix])
        #expect(again.waitForExit(timeout: 30) == 0, "stderr: \(again.stderr)")
    }

    @Test("A prefix that cannot be created: one line, non-zero exit")
    func unwritable() throws {
        let run = try ToolRun(["install", "--prefix", "/proc/bpfkit-no"])
        #expect(run.waitForExit() != 0)
        #expect(run.stderr.hasPrefix("bpfkit install: cannot create"), "\(run.stderr)")
    }
}
