import Foundation
import Report
import Testing
import ToolEvents

@testable import Tools

@Suite("bpfkit exporter, against the real kernel and a real Prometheus", .serialized)
struct ExporterTests {
    /// Block I/O a scrape must see: `count` direct 4 KiB writes to a file on a real disk.
    static func directWrites(_ count: Int) throws {
        let path = "/var/tmp/" + uniqueMarker("exporter-io")
        defer { unlink(path) }
        let status = try shell("dd if=/dev/zero of=\(path) bs=4k count=\(count) oflag=direct 2>/dev/null")
        #expect(status == 0, "dd failed")
    }

    /// Scheduling a scrape must see: short-lived processes, each woken and switched in.
    static func wakeups(_ count: Int) throws {
        for _ in 0..<count { try runProgram("/bin/true", []) }
    }

    @Test("Prometheus scrapes two collectors; its query API shows the histograms grow after I/O and scheduling")
    func prometheusScrapes() throws {
        let exporter = try ExporterRun(config: #"{"collectors": {"biolatency": {}, "runqlat": {}}}"#)
        defer { exporter.stop() }
        try Self.directWrites(16)  // the disk's series exist from its first request on
        let prometheus = try PrometheusServer(scraping: exporter.port)
        defer { prometheus.stop() }

        // Prometheus parsed the exposition (up is 1 only after a successful scrape).
        let up = try prometheus.wait(for: #"up{job="bpfkit"}"#) { $0 == 1 }
        #expect(up == 1, "Prometheus log: \(prometheus.logText)")
        #expect(try prometheus.value(of: #"bpfkit_collector_up{collector="biolatency"}"#) == 1)
        #expect(try prometheus.value(of: #"bpfkit_collector_up{collector="runqlat"}"#) == 1)
        let ioQuery = "sum(bpfkit_block_io_latency_seconds_count)"
        let runQuery = "bpfkit_runqueue_latency_seconds_count"
        let ioBefore = try prometheus.wait(for: ioQuery) { $0 > 0 }
        let runBefore = try prometheus.wait(for: runQuery) { $0 > 0 }
        guard let ioBefore, let runBefore else {
            Issue.record("no histogram series in Prometheus; exporter stderr: \(exporter.run.stderr)")
            return
        }

        try Self.directWrites(256)
        try Self.wakeups(50)
        let ioAfter = try prometheus.wait(for: ioQuery) { $0 >= ioBefore + 256 }
        let runAfter = try prometheus.wait(for: runQuery) { $0 >= runBefore + 50 }
        #expect((ioAfter ?? 0) >= ioBefore + 256, "block I/O count \(ioBefore) -> \(ioAfter ?? -1)")
        #expect((runAfter ?? 0) >= runBefore + 50, "run-queue count \(runBefore) -> \(runAfter ?? -1)")

        // Real histograms: cumulative buckets whose +Inf equals _count, usable by histogram_quantile.
        // One query, so both sides come from the same scrape (two queries can straddle one).
        let infinityMinusCount = try prometheus.value(
            of: #"sum(bpfkit_block_io_latency_seconds_bucket{le="+Inf"}) - \#(ioQuery)"#)
        #expect(infinityMinusCount == 0)
        let p99 = try prometheus.value(of: "histogram_quantile(0.99, sum by (le) (rate(bpfkit_runqueue_latency_seconds_bucket[1m])))")
        #expect(p99 != nil && p99! > 0 && p99! < 135, "p99 \(String(describing: p99))")
        let sum = try prometheus.value(of: ioQuery.replacingOccurrences(of: "_count", with: "_sum"))
        #expect((sum ?? 0) > 0)
    }

    @Test("every collector at once: promtool accepts the output, OpenMetrics on request, TCP and syscalls counted, SIGTERM detaches")
    func allCollectors() throws {
        let exporter = try ExporterRun(config: nil)
        #expect(!loadedProgramIDs(namedWithPrefix: "exporter_").isEmpty)

        // A TCP connection this process makes and accepts.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let port = freePort()
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let before = try exporter.metrics()
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                _ = listen(listener, 4)
                let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                _ = connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                let accepted = accept(listener, nil, nil)
                close(accepted)
                close(client)
            }
        }
        close(listener)
        try ExporterTests.directWrites(8)

        let reply = try exporter.get("/metrics")
        #expect(reply.status == 200)
        #expect(reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        var status: Int32 = -1
        let lint = try capture("/usr/bin/promtool", ["check", "metrics"], input: reply.body, status: &status)
        #expect(status == 0, "promtool: \(lint)")

        let after = Exposition(reply.body)
        for collector in CollectorKind.allCases {
            #expect(after[#"bpfkit_collector_up{collector="\#(collector.rawValue)"}"#] == 1, "\(collector): \(exporter.run.stderr)")
        }
        func grew(_ series: String, by amount: Double = 1) -> Bool {
            (after[series] ?? 0) >= (before[series] ?? 0) + amount
        }
        #expect(grew(#"bpfkit_tcp_connects_total{result="established"}"#))
        #expect(grew(#"bpfkit_tcp_accepts_total{result="established"}"#))
        #expect(grew(#"bpfkit_tcp_state_changes_total{old_state="LISTEN",new_state="SYN_RECV"}"#))
        #expect(grew(#"bpfkit_syscalls_total{syscall="connect"}"#))
        #expect(grew(#"bpfkit_syscalls_total{syscall="accept"}"#) || grew(#"bpfkit_syscalls_total{syscall="accept4"}"#))
        #expect((after["bpfkit_page_cache_accesses_total"] ?? 0) > 0)
        #expect(!after.all("bpfkit_offcpu_seconds_total{").isEmpty)
        #expect(after.all("bpfkit_offcpu_seconds_total{").count <= 10)
        #expect((after["bpfkit_runqueue_latency_seconds_count"] ?? 0) > 0)

        // OpenMetrics when asked, as Prometheus asks.
        let open = try exporter.get("/metrics", headers: ["Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"])
        #expect(open.headers["content-type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8")
        #expect(open.body.hasSuffix("# EOF\n"))
        #expect(open.body.contains("# TYPE bpfkit_syscalls counter\n"))
        #expect(open.body.contains("bpfkit_syscalls_total{syscall="))

        // The status page, HEAD, unknown paths and methods, keep-alive with pipelining.
        let page = try exporter.get("/")
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.body.contains(#"<a href="/metrics">"#) && page.body.contains("offcpu"))
        let head = try exporter.get("/metrics", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty && Int(head.headers["content-length"] ?? "0")! > 1000)
        #expect(try exporter.get("/nothing").status == 404)
        #expect(try exporter.get("/metrics", method: "POST").status == 405)
        let malformed = try exporter.get("/two words")  // a request line of four parts
        #expect(malformed.status == 400 && malformed.headers["connection"] == "close")
        let pipelined = try HTTPReply.fetch(port: exporter.port, requests: [("GET", "/metrics", [:]), ("GET", "/", [:]), ("GET", "/metrics", [:])])
        #expect(pipelined.map(\.status) == [200, 200, 200])

        // SIGTERM: a clean exit, and every program the exporter loaded is gone.
        let loaded = loadedProgramIDs(namedWithPrefix: "exporter_")
        #expect(exporter.stop(SIGTERM) == 0)
        #expect(loadedProgramIDs(namedWithPrefix: "exporter_").isDisjoint(with: loaded))
    }

    @Test("tcp: SYNs a full accept queue drops are retransmitted in SYN_SENT; closing them unanswered counts failed connects")
    func retransmits() throws {
        let exporter = try ExporterRun(config: #"{"collectors": {"tcp": {}}}"#)
        defer { exporter.stop() }
        let before = try exporter.metrics()
        // A listener that never accepts, with the smallest backlog: once its queue is full,
        // the kernel drops further SYNs and the clients retransmit them after 1 s.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let port = freePort()
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var clients: [Int32] = []
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                _ = listen(listener, 0)
                for _ in 0..<4 {
                    let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
                    _ = connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    clients.append(client)
                }
            }
        }
        Thread.sleep(forTimeInterval: 2.5)
        for client in clients { close(client) }
        close(listener)
        let after = try exporter.metrics()
        let series = #"bpfkit_tcp_retransmits_total{state="SYN_SENT"}"#
        #expect((after[series] ?? 0) >= (before[series] ?? 0) + 1, "\(after.all("bpfkit_tcp"))")
        let failed = #"bpfkit_tcp_connects_total{result="failed"}"#
        #expect((after[failed] ?? 0) >= (before[failed] ?? 0) + 1)
    }

    @Test("a collector that cannot start reports up 0 while the other works")
    func brokenCollector() throws {
        let exporter = try ExporterRun(config: #"{"collectors": {"biolatency": {"disk": "nosuchdisk"}, "syscalls": {}}}"#)
        defer { exporter.stop() }
        #expect(exporter.run.stderr.contains("bpfkit exporter: collector biolatency is down: no such disk 'nosuchdisk'"),
                "\(exporter.run.stderr)")
        #expect(exporter.run.stdout.contains("collectors: syscalls; down: biolatency"))
        let metrics = try exporter.metrics()
        #expect(metrics[#"bpfkit_collector_up{collector="biolatency"}"#] == 0)
        #expect(metrics[#"bpfkit_collector_up{collector="syscalls"}"#] == 1)
        #expect((metrics[#"bpfkit_syscalls_total{syscall="read"}"#] ?? 0) > 0)
        #expect(metrics.all("bpfkit_block_io_latency_seconds").isEmpty)
        #expect(try exporter.get("/").body.contains("down: no such disk"))
    }

    @Test("bad configuration, unknown collector, bad address, port in use: one line, non-zero exit", arguments: [
        (#"{"collectors": {"nope": {}}}"#, #"unknown collector "nope" (known: biolatency"#),
        (#"{"collectors": {"runqlat": {},}}"#, "not valid JSON: line 1, column 31: expected a string key"),
        (#"{"collectors": {"offcpu": {"top": 0}}}"#, "collector offcpu: top must be an integer from 1 to 1000"),
        (#"{"collectors": {"runqlat": {"bins": 3}}}"#, #"collector runqlat: unknown option "bins""#),
        (#"{"collectors": {}}"#, "collectors must be an object naming at least one collector"),
        (#"{"colectors": {}}"#, #"unknown key "colectors""#),
        (#"["runqlat"]"#, "the top level must be a JSON object"),
        (#"{"listen": "localhost", "collectors": {"tcp": {}}}"#, #"listen address "localhost" is not ADDRESS:PORT"#),
    ])
    func badConfiguration(config: String, message: String) throws {
        let path = NSTemporaryDirectory() + uniqueMarker("bad") + ".json"
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let run = try ToolRun(["exporter", "--config", path])
        #expect(run.waitForExit(timeout: 60) != 0)
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("bpfkit exporter: ") && lines[0].contains(message), "\(run.stderr)")
        #expect(run.stdout.isEmpty)
    }

    @Test("a missing file, a bad --listen and a port in use: one line, non-zero exit")
    func badArguments() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(listener, $0, length)
                _ = getsockname(listener, $0, &length)
            }
        }
        _ = listen(listener, 1)
        let busy = Int(UInt16(bigEndian: address.sin_port))
        let cases: [([String], String)] = [
            (["--config", "/nonexistent/exporter.json"], "config /nonexistent/exporter.json: no such file or directory"),
            (["--listen", "127.0.0.1:70000"], "port must be a number from 0 to 65535"),
            (["--listen", "example.com:9435"], "example.com is not a numeric IPv4 or IPv6 address"),
            (["--listen", "127.0.0.1:\(busy)"], "listen 127.0.0.1:\(busy): address already in use"),
        ]
        for (arguments, message) in cases {
            let run = try ToolRun(["exporter"] + arguments)
            #expect(run.waitForExit(timeout: 60) != 0)
            let lines = run.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].contains(message), "\(arguments): \(run.stderr)")
        }
    }

    @Test("--help shows the configuration format and every collector, in 80 columns")
    func help() throws {
        let run = try ToolRun(["exporter", "--help"])
        #expect(run.waitForExit(timeout: 60) == 0)
        for collector in CollectorKind.allCases {
            #expect(run.stdout.contains("\n  \(collector.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0))\(collector.summary)\n"))
        }
        #expect(run.stdout.contains(#""collectors": {"#) && run.stdout.contains("bpfkit_collector_up"))
        #expect(run.lines.allSatisfy { $0.count <= 80 }, "\(run.lines.filter { $0.count > 80 })")
    }

    @Test("without privileges no collector can start: one line saying why, non-zero exit")
    func unprivileged() throws {
        let copy = "/tmp/" + uniqueMarker("bpfkit")
        try FileManager.default.copyItem(atPath: ToolRun.binary.path, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        chmod(copy, 0o755)
        let run = try ToolRun("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", copy, "exporter", "--listen", "127.0.0.1:0"])
        #expect(run.waitForExit(timeout: 60) == 1)
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("bpfkit exporter: ") && lines[0].contains("needs root"), "\(run.stderr)")
    }
}

@Suite("exporter: exposition format, histograms, configuration parsing")
struct ExporterFormatTests {
    @Test("counters, gauges and histograms in the Prometheus text format and OpenMetrics")
    func formats() {
        var counter = MetricFamily("demo_calls", .counter, help: "Calls \\ with\nnewline.")
        counter.add(.integer(42), labels: [("name", #"a"b\c"# + "\n")])
        var histogram = MetricFamily("demo_seconds", .histogram, help: "Latency.")
        histogram.addHistogram(bounds: ["0.5", "1"], cumulative: [1, 3], count: 4, sum: 2.5, labels: [("disk", "vda")])
        var gauge = MetricFamily("demo_up", .gauge, help: "Up.")
        gauge.add(.integer(1))
        let text = ExpositionFormat.prometheus.render([counter, histogram, gauge])
        #expect(text == """
            # HELP demo_calls_total Calls \\\\ with\\nnewline.
            # TYPE demo_calls_total counter
            demo_calls_total{name="a\\"b\\\\c\\n"} 42
            # HELP demo_seconds Latency.
            # TYPE demo_seconds histogram
            demo_seconds_bucket{disk="vda",le="0.5"} 1
            demo_seconds_bucket{disk="vda",le="1"} 3
            demo_seconds_bucket{disk="vda",le="+Inf"} 4
            demo_seconds_sum{disk="vda"} 2.5
            demo_seconds_count{disk="vda"} 4
            # HELP demo_up Up.
            # TYPE demo_up gauge
            demo_up 1

            """)
        let open = ExpositionFormat.openMetrics.render([counter])
        #expect(open.hasPrefix("# HELP demo_calls Calls"))
        #expect(open.contains("# TYPE demo_calls counter\ndemo_calls_total{"))
        #expect(open.hasSuffix("# EOF\n"))
        #expect(ExpositionFormat(accept: "application/openmetrics-text; version=1.0.0") == .openMetrics)
        #expect(ExpositionFormat(accept: "text/plain") == .prometheus)
        #expect(ExpositionFormat(accept: nil) == .prometheus)
    }

    @Test("log2 microsecond slots become cumulative le buckets in seconds")
    func latencyBuckets() {
        #expect(LatencyHistogram.bounds.first == "2e-06")
        #expect(LatencyHistogram.bounds[9] == "0.001024")
        #expect(LatencyHistogram.bounds.last == "134.217728")
        var histogram = exporter_histogram()
        withUnsafeMutableBytes(of: &histogram.slots) { raw in
            let slots = raw.bindMemory(to: UInt64.self)
            slots[1] = 2  // 0..1 µs
            slots[3] = 5  // 4..7 µs
            slots[31] = 1  // beyond the last bound
        }
        histogram.sum_ns = 3_000_000_000
        var family = MetricFamily("x_seconds", .histogram, help: "x")
        LatencyHistogram.add([histogram, histogram], to: &family)
        let text = ExpositionFormat.prometheus.render([family])
        #expect(text.contains(#"x_seconds_bucket{le="2e-06"} 4"#))
        #expect(text.contains(#"x_seconds_bucket{le="4e-06"} 4"#))
        #expect(text.contains(#"x_seconds_bucket{le="8e-06"} 14"#))
        #expect(text.contains(#"x_seconds_bucket{le="134.217728"} 14"#))
        #expect(text.contains(#"x_seconds_bucket{le="+Inf"} 16"#))
        #expect(text.contains("x_seconds_sum 6.0\n"))
        #expect(text.contains("x_seconds_count 16\n"))
    }

    /// The parse error's text, or nil when `text` parses.
    static func parseError(_ text: String) -> String? {
        let result = Result { () throws(JSONParseError) -> JSON in try JSON.parse(text) }
        if case .failure(let error) = result { return error.description }
        return nil
    }

    @Test("JSON parsing: values, escapes, and errors with their place")
    func json() throws {
        let value = try JSON.parse(#" {"a": [1, -2, 3.5, 18446744073709551615, true, null], "b": "x\u00e9\n\ud83d\ude00"} "#)
        #expect(value["a"] == .array([.int(1), .int(-2), .double(3.5), .unsigned(.max), .bool(true), .null]))
        #expect(value["b"] == .string("xé\n😀"))
        for (text, message) in [
            ("{", "line 1, column 2: expected a string key"),
            ("{\"a\" 1}", "line 1, column 6: expected ':'"),
            ("[1,]", "line 1, column 4: unexpected character ']'"),
            ("{\"a\": 1}\n x", "line 2, column 2: unexpected text after the JSON value"),
            ("{\"a\": 1, \"a\": 2}", "duplicate key \"a\""),
            ("\"\\q\"", "invalid escape"),
            ("01", "unexpected text after the JSON value"),
        ] {
            let error = Self.parseError(text)
            #expect(error?.contains(message) == true, "\(text): \(error ?? "parsed")")
        }
    }

    @Test("configuration: collectors in file order with their options; listen addresses")
    func configuration() throws {
        let config = try ExporterConfiguration.parse(#"{"listen": ":9999", "collectors": {"offcpu": {"top": 3}, "tcp": {}}}"#)
        #expect(config.listen == ":9999")
        #expect(config.collectors.map(\.kind) == [.offcpu, .tcp])
        #expect(try ListenAddress(parsing: ":9999").description == "0.0.0.0:9999")
        #expect(try ListenAddress(parsing: "[::1]:80").description == "[::1]:80")
        #expect(try ListenAddress(parsing: "localhost:0").description == "127.0.0.1:0")
        #expect(SyscallNames.name(of: 0) == "read")
        #expect(SyscallNames.name(of: 257) == "openat")
        #expect(SyscallNames.name(of: 9999) == "syscall_9999")
    }
}
