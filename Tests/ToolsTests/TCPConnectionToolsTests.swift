import Foundation
import Testing

/// tcpconnect, tcpaccept and tcplife see connections this process makes to itself on 127.0.0.1
/// and ::1, with the right ports and pid.
@Suite("tcpconnect, tcpaccept, tcplife against the real kernel", .serialized)
struct TCPConnectionToolsTests {
    static let hosts = ["127.0.0.1", "::1"]

    /// Makes sessions on both hosts until `done` holds for the tool's output; returns the sessions.
    private func sessions(
        _ run: ToolRun, upload: Int = 0, download: Int = 0, until done: ([String: [LoopbackSession]], ToolRun) -> Bool
    ) throws -> [String: [LoopbackSession]] {
        var made: [String: [LoopbackSession]] = [:]
        try run.wait(timeout: 15, poke: {
            for host in Self.hosts { made[host, default: []].append(try LoopbackSession(host: host, upload: upload, download: download)) }
        }) { done(made, $0) }
        return made
    }

    @Test("tcpconnect: each connect with its pid, addresses, local and remote port; programs freed at exit")
    func tcpconnect() throws {
        let before = loadedProgramIDs(namedWithPrefix: "tcpconnect_")
        let run = try ToolRun(["tcpconnect", "--json", "-L", "-p", String(getpid())])
        defer { run.stop() }
        let made = try sessions(run) { made, run in
            Self.hosts.allSatisfy { host in
                run.jsonEvents.contains { event in made[host, default: []].contains { Int($0.serverPort) == event["dport"] as? Int } }
            }
        }
        for host in Self.hosts {
            let event = try #require(run.jsonEvents.first { event in
                made[host, default: []].contains { Int($0.serverPort) == event["dport"] as? Int }
            }, "no connect to \(host); stderr: \(run.stderr)")
            let session = try #require(made[host]?.first { Int($0.serverPort) == event["dport"] as? Int })
            #expect(event["pid"] as? Int == Int(getpid()))
            #expect(event["lport"] as? Int == Int(session.clientPort))
            #expect(event["saddr"] as? String == host)
            #expect(event["daddr"] as? String == host)
            #expect(event["ip"] as? Int == (host == "::1" ? 6 : 4))
        }
        #expect(run.jsonEvents.allSatisfy { $0["pid"] as? Int == Int(getpid()) })
        let ours = loadedProgramIDs(namedWithPrefix: "tcpconnect_").subtracting(before)
        #expect(ours.count == 2)
        #expect(run.stop() == 0)
        #expect(loadedProgramIDs(namedWithPrefix: "tcpconnect_").intersection(ours).isEmpty)
    }

    @Test("tcpconnect: bcc's columns, and -P keeps only the listed ports")
    func tcpconnectColumnsAndPorts() throws {
        let first = try LoopbackSession(host: "127.0.0.1")  // a port that is free again now
        let run = try ToolRun(["tcpconnect", "-P", "\(first.serverPort),1", "-p", String(getpid())])
        defer { run.stop() }
        let seen = run.wait(timeout: 15, poke: {
            _ = try? LoopbackSession(host: "127.0.0.1")
            // Connect to the listed port too: nobody listens there now, the SYN still goes out.
            _ = try? LoopbackSession.connectOnly(host: "127.0.0.1", port: first.serverPort)
        }) { $0.lines.count > 1 }
        #expect(seen, "stderr: \(run.stderr)")
        #expect(run.lines.first == "PID    COMM         IP SADDR            DADDR            DPORT")
        for line in run.lines.dropFirst() {
            #expect(line.hasSuffix(" \(first.serverPort)"), "unlisted port shown: \(line)")
            #expect(line.hasPrefix(String(getpid()) + " "))
            #expect(line.contains(" 4  127.0.0.1        127.0.0.1        "))
        }
    }

    @Test("tcpconnect -c counts connects per flow and prints them at exit")
    func tcpconnectCount() throws {
        let run = try ToolRun(["tcpconnect", "-c", "--json", "-p", String(getpid())])
        defer { run.stop() }
        #expect(try run.wait { bpfLinkCount($0.process.processIdentifier) >= 2 }, "stderr: \(run.stderr)")
        let listener = try LoopbackListener(host: "::1")
        for _ in 0..<3 { _ = try listener.session() }
        #expect(run.stop() == 0)
        let row = try #require(run.jsonEvents.first { $0["rport"] as? Int == Int(listener.port) }, "stdout: \(run.stdout)")
        #expect(row["connects"] as? Int == 3)
        #expect(row["laddr"] as? String == "::1")
        #expect(row["raddr"] as? String == "::1")
    }

    @Test("tcpconnect --cgroup shows only connects from tasks in that cgroup")
    func tcpconnectCgroup() throws {
        let mount = try #require(cgroup2Mount(), "this machine has no cgroup v2 hierarchy mounted")
        let group = mount + "/" + uniqueMarker("cg")
        try FileManager.default.createDirectory(atPath: group, withIntermediateDirectories: false)
        defer { rmdir(group) }
        let peer = try buildProgram("tcppeer", tcpPeerSource, compiler: "cc -O1")
        let port = UInt16.random(in: 20000...40000)
        let run = try ToolRun(["tcpconnect", "--json", "--cgroup", group])
        defer { run.stop() }
        var children: [Int32] = []
        let seen = try run.wait(timeout: 15, poke: {
            _ = try LoopbackSession(host: "127.0.0.1")  // this process: outside the group
            let child = Process()
            child.executableURL = URL(fileURLWithPath: "/bin/sh")
            child.arguments = ["-c", "echo $$ > \(group)/cgroup.procs && exec \(peer) 127.0.0.1 \(port) 0"]
            try child.run()
            child.waitUntilExit()
            children.append(child.processIdentifier)
        }) { run in run.jsonEvents.contains { $0["dport"] as? Int == Int(port) } }
        #expect(seen, "stderr: \(run.stderr)")
        #expect(!run.jsonEvents.isEmpty)
        for event in run.jsonEvents {
            #expect(event["dport"] as? Int == Int(port))
            #expect(children.contains(Int32(event["pid"] as? Int ?? -1)))
        }
        let bad = try ToolRun(["tcpconnect", "--cgroup", "/nonexistent/" + uniqueMarker("cg")])
        #expect(bad.waitForExit() != 0)
        #expect(bad.stderr.contains("--cgroup"))
        #expect(!bad.stderr.contains("Fatal error"))
    }

    @Test("tcpaccept: each accepted connection with its pid and both ends")
    func tcpaccept() throws {
        let before = loadedProgramIDs(namedWithPrefix: "tcpaccept_")
        let run = try ToolRun(["tcpaccept", "--json", "-p", String(getpid())])
        defer { run.stop() }
        let made = try sessions(run) { made, run in
            Self.hosts.allSatisfy { host in
                run.jsonEvents.contains { event in made[host, default: []].contains { Int($0.serverPort) == event["lport"] as? Int } }
            }
        }
        for host in Self.hosts {
            let event = try #require(run.jsonEvents.first { event in
                made[host, default: []].contains { Int($0.serverPort) == event["lport"] as? Int }
            }, "no accept on \(host); stderr: \(run.stderr)")
            let session = try #require(made[host]?.first { Int($0.serverPort) == event["lport"] as? Int })
            #expect(event["pid"] as? Int == Int(getpid()))
            #expect(event["rport"] as? Int == Int(session.clientPort))
            #expect(event["laddr"] as? String == host)
            #expect(event["raddr"] as? String == host)
        }
        let ours = loadedProgramIDs(namedWithPrefix: "tcpaccept_").subtracting(before)
        #expect(!ours.isEmpty)
        #expect(run.stop() == 0)
        #expect(loadedProgramIDs(namedWithPrefix: "tcpaccept_").intersection(ours).isEmpty)
    }

    @Test("tcpaccept: bcc's columns")
    func tcpacceptColumns() throws {
        let run = try ToolRun(["tcpaccept", "-p", String(getpid())])
        defer { run.stop() }
        var sessions: [LoopbackSession] = []
        let seen = try run.wait(timeout: 15, poke: { sessions.append(try LoopbackSession(host: "127.0.0.1")) }) { $0.lines.count > 1 }
        #expect(seen, "stderr: \(run.stderr)")
        #expect(run.lines.first == "PID     COMM         IP RADDR            RPORT LADDR            LPORT")
        let line = try #require(run.lines.last)
        #expect(line.hasPrefix(String(getpid()) + " "))
        #expect(line.contains(" 4  127.0.0.1 "))
        #expect(sessions.contains { line.hasSuffix(" 127.0.0.1        \($0.serverPort)") }, "\(line)")
    }

    @Test("tcplife: both ends of each session, with pid, ports, and bytes within 1 KB")
    func tcplife() throws {
        let upload = 300_000, download = 70_000
        let run = try ToolRun(["tcplife", "--json", "-p", String(getpid())])
        defer { run.stop() }
        let made = try sessions(run, upload: upload, download: download) { made, run in
            Self.hosts.allSatisfy { host in
                made[host, default: []].contains { session in
                    run.jsonEvents.contains { $0["lport"] as? Int == Int(session.clientPort) }
                        && run.jsonEvents.contains { $0["lport"] as? Int == Int(session.serverPort) && $0["rport"] as? Int == Int(session.clientPort) }
                }
            }
        }
        for host in Self.hosts {
            let session = try #require(made[host]?.first { session in
                run.jsonEvents.contains { $0["lport"] as? Int == Int(session.clientPort) }
            }, "no session on \(host); stderr: \(run.stderr)")
            let client = try #require(run.jsonEvents.first { $0["lport"] as? Int == Int(session.clientPort) })
            let server = try #require(run.jsonEvents.first {
                $0["lport"] as? Int == Int(session.serverPort) && $0["rport"] as? Int == Int(session.clientPort)
            })
            #expect(client["rport"] as? Int == Int(session.serverPort))
            for event in [client, server] {
                #expect(event["pid"] as? Int == Int(getpid()))
                #expect(event["laddr"] as? String == host)
                #expect(event["raddr"] as? String == host)
                #expect((event["ms"] as? Double ?? -1) >= 0)
            }
            #expect(abs((client["tx_bytes"] as? Int ?? 0) - upload) <= 1024, "\(client)")
            #expect(abs((client["rx_bytes"] as? Int ?? 0) - download) <= 1024, "\(client)")
            #expect(abs((server["tx_bytes"] as? Int ?? 0) - download) <= 1024, "\(server)")
            #expect(abs((server["rx_bytes"] as? Int ?? 0) - upload) <= 1024, "\(server)")
        }
    }

    @Test("tcplife: bcc's columns, -w wide with IP, -s CSV")
    func tcplifeColumns() throws {
        for (flags, header) in [
            ([String](), "PID   COMM       LADDR           LPORT RADDR           RPORT TX_KB RX_KB MS"),
            (["-w"], "PID   COMM             IP LADDR                      LPORT RADDR                      RPORT  TX_KB  RX_KB MS"),
            (["-s"], "PID,COMM,IP,LADDR,LPORT,RADDR,RPORT,TX_KB,RX_KB,MS"),
        ] {
            let run = try ToolRun(["tcplife", "-p", String(getpid())] + flags)
            defer { run.stop() }
            var sessions: [LoopbackSession] = []
            let seen = try run.wait(timeout: 15, poke: {
                sessions.append(try LoopbackSession(host: "127.0.0.1", upload: 4096))
            }) { $0.lines.count > 2 }
            #expect(seen, "stderr: \(run.stderr)")
            #expect(run.lines.first == header)
            // The client's end: its local port is the session's client port.
            let line = try #require(run.lines.first { line in
                let fields = line.split(separator: flags == ["-s"] ? "," : " ")
                let lportColumn = flags.isEmpty ? 3 : 4  // -w and -s add the IP column
                return fields.count > lportColumn && sessions.contains { String($0.clientPort) == fields[lportColumn] }
            })
            if flags == ["-s"] {
                #expect(line.hasPrefix("\(getpid()),"))
                #expect(line.split(separator: ",").count == 10)
                #expect(line.split(separator: ",")[7] == "4")  // TX_KB of the client
            } else {
                #expect(line.hasPrefix(String(getpid()) + " "))
            }
        }
    }

    @Test("bad arguments are one line and a non-zero exit")
    func badArguments() throws {
        for arguments in [["tcpconnect", "-P", "http"], ["tcpconnect", "-4", "-6"], ["tcplife", "-L", "0"],
                          ["tcpaccept", "-P", "1,2,3,4,5,6,7,8,9"], ["tcpretrans", "-d", "-1"]] {
            let run = try ToolRun(arguments)
            #expect(try run.waitForExit() == 2, "\(arguments)")
            #expect(run.stderr.hasPrefix("bpfkit \(arguments[0]): ") && run.stderr.split(separator: "\n").count == 1,
                    "\(arguments): \(run.stderr)")
            #expect(!run.stderr.contains("Fatal error"))
        }
    }
}
