import Foundation
import Testing

/// A network namespace of the test's own with loopback up and an nftables rule that drops
/// data segments (packets over 200 bytes; the handshake's are smaller) arriving for `port`,
/// so the sender retransmits them. Removed at `remove()`.
private struct DroppingNamespace {
    let name = "bpfkit-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)

    init(dropping port: UInt16) throws {
        try Self.run("/usr/sbin/ip", ["netns", "add", name])
        try Self.run("/usr/sbin/ip", ["-n", name, "link", "set", "lo", "up"])
        try Self.run("/usr/sbin/ip", ["netns", "exec", name, "nft", "-f", "-"], input: """
            table inet bpfkit {
                chain in {
                    type filter hook input priority 0;
                    tcp dport \(port) meta length > 200 drop
                }
            }
            """)
    }

    /// Runs `command` inside the namespace to completion; returns its pid.
    func exec(_ command: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", name] + command
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    func remove() { _ = try? Self.run("/usr/sbin/ip", ["netns", "del", name]) }

    private static func run(_ path: String, _ arguments: [String], input: String? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        let feed = Pipe()
        if input != nil { process.standardInput = feed }
        try process.run()
        if let input {
            feed.fileHandleForWriting.write(Data(input.utf8))
            try feed.fileHandleForWriting.close()
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw LoopbackSession.Failure(description: "\(path) \(arguments.joined(separator: " ")): \(message)")
        }
    }
}

@Suite("tcpretrans, against the real kernel", .serialized)
struct TcpretransTests {
    @Test("retransmits of segments nftables drops, with addresses, ports and state, on IPv4 and IPv6")
    func retransmits() throws {
        #expect(FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft"), "needs nftables (CI installs it)")
        let peer = try buildProgram("tcppeer", tcpPeerSource, compiler: "cc -O1")
        let port = UInt16.random(in: 20000...40000)
        let namespace = try DroppingNamespace(dropping: port)
        defer { namespace.remove() }
        let before = loadedProgramIDs(namedWithPrefix: "tcpretrans_")
        let run = try ToolRun(["tcpretrans", "--json", "-s"])
        defer { run.stop() }
        #expect(try run.wait { bpfLinkCount($0.process.processIdentifier) >= 1 }, "stderr: \(run.stderr)")
        for host in ["127.0.0.1", "::1"] {
            _ = try namespace.exec([peer, host, String(port), "1.2"])
        }
        let ours = { (host: String) in run.jsonEvents.filter { $0["raddr"] as? String == host && $0["rport"] as? Int == Int(port) } }
        #expect(try run.wait { _ in !ours("127.0.0.1").isEmpty && !ours("::1").isEmpty }, "stdout: \(run.stdout) stderr: \(run.stderr)")
        for (host, ip) in [("127.0.0.1", 4), ("::1", 6)] {
            let events = ours(host)
            #expect(!events.isEmpty)
            for event in events {
                #expect(event["laddr"] as? String == host)
                #expect(event["ip"] as? Int == ip)
                #expect(event["state"] as? String == "ESTABLISHED")
                #expect(event["type"] as? String == "R")
                #expect((event["lport"] as? Int ?? 0) > 0)
            }
            // Every retransmit of one write starts at the same sequence number.
            #expect(Set(events.compactMap { $0["seq"] as? Int }).count == 1)
        }
        let loaded = loadedProgramIDs(namedWithPrefix: "tcpretrans_").subtracting(before)
        #expect(run.stop() == 0)
        #expect(loadedProgramIDs(namedWithPrefix: "tcpretrans_").intersection(loaded).isEmpty)
    }

    @Test("bcc's columns; -c counts per flow at exit; -l says in one line why loss probes are not traced")
    func countsAndColumns() throws {
        let peer = try buildProgram("tcppeer", tcpPeerSource, compiler: "cc -O1")
        let port = UInt16.random(in: 20000...40000)
        let namespace = try DroppingNamespace(dropping: port)
        defer { namespace.remove() }

        let columns = try ToolRun(["tcpretrans"])
        defer { columns.stop() }
        let counts = try ToolRun(["tcpretrans", "-c", "-l"])
        defer { counts.stop() }
        #expect(try columns.wait { bpfLinkCount($0.process.processIdentifier) >= 1 })
        #expect(try counts.wait { bpfLinkCount($0.process.processIdentifier) >= 1 })
        _ = try namespace.exec([peer, "127.0.0.1", String(port), "1.2"])
        #expect(try columns.wait { $0.stdout.contains("R> 127.0.0.1:\(port)") }, "stdout: \(columns.stdout)")
        #expect(columns.lines.first == "TIME     PID     IP LADDR:LPORT          T> RADDR:RPORT          STATE")
        let line = try #require(columns.lines.first { $0.contains("R> 127.0.0.1:\(port)") })
        #expect(line.hasSuffix(" ESTABLISHED"))
        #expect(line.contains(" 4  127.0.0.1:"))

        #expect(counts.stop() == 0)
        #expect(counts.stderr.split(separator: "\n").count == 1)
        #expect(counts.stderr.contains("-l: tail loss probes need a kprobe or fentry"))
        #expect(counts.lines.first == "LADDR:LPORT               RADDR:RPORT               RETRANSMITS")
        let row = try #require(counts.lines.first { $0.contains("<-> [127.0.0.1]#\(port) ") }, "stdout: \(counts.stdout)")
        let number = try #require(Int(row.split(separator: " ").last ?? ""))
        #expect(number >= 1)
    }
}
