import ArgumentParser
import BPFKit
import Report

/// `bpfkit exporter`: serves kernel metrics counted by BPF programs to Prometheus.
public struct Exporter: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "exporter",
        abstract: "Serve BPF-collected metrics over HTTP for Prometheus.",
        discussion: """
            Serves /metrics in the Prometheus text format (OpenMetrics when the Accept header \
            asks for application/openmetrics-text) and / as a page listing the collectors. \
            A scrape only reads the collectors' BPF maps. A collector that cannot load or \
            attach is reported as bpfkit_collector_up{collector="NAME"} 0 and the others \
            run on (when none can, the exporter exits with the reason). SIGINT or SIGTERM detaches everything and exits.

            Without --config every collector runs with its defaults. The configuration is a \
            JSON object:
              {
                "listen": "127.0.0.1:9435",
                "collectors": {
                  "biolatency": {"disk": "sda"},
                  "runqlat": {},
                  "syscalls": {},
                  "tcp": {},
                  "cachestat": {},
                  "offcpu": {"top": 10, "processes": 4096}
                }
              }

            collectors:
            \(CollectorKind.allCases.map { "  " + $0.rawValue.padding(11) + $0.summary }.joined(separator: "\n"))

            examples:
              bpfkit exporter                          # every collector on 127.0.0.1:9435
              bpfkit exporter --config exporter.json   # the collectors the file names
              bpfkit exporter --listen :9435           # every IPv4 address
            """)

    @Option(name: .shortAndLong, help: "JSON file naming the collectors to run and their options.")
    var config: String?

    @Option(help: "ADDRESS:PORT to listen on (default: the configuration's \"listen\", else \(ListenAddress.defaultValue)).")
    var listen: String?

    @Flag(name: .shortAndLong, help: "Say which kernel hooks the collectors attached to.")
    var verbose = false

    public init() {}

    public func run() throws {
        try reportingFailures(tool: "exporter") {
            let configuration = try config.map { try ExporterConfiguration.load(path: $0) } ?? ExporterConfiguration.allCollectors()
            let address = try ListenAddress(parsing: listen ?? configuration.listen ?? ListenAddress.defaultValue)
            // Bind first: a port in use fails before any BPF program loads.
            let server = try HTTPServer(address)
            let collectors = CollectorSet(configuration)
            try collectors.startAll(verbose: verbose)
            defer { collectors.closeAll() }
            let down = collectors.down
            Output.standardOutput.line("bpfkit exporter: serving http://\(server.address)/metrics; collectors: "
                + collectors.running.joined(separator: ", ") + (down.isEmpty ? "" : "; down: " + down.joined(separator: ", ")))
            _ = try server.serve { request in
                guard request.method == "GET" || request.method == "HEAD" else {
                    return .init(status: 405, body: "only GET and HEAD\n", extraHeaders: [("Allow", "GET, HEAD")])
                }
                switch request.path {
                case "/metrics":
                    let format = ExpositionFormat(accept: request.header("accept"))
                    return .init(status: 200, contentType: format.contentType, body: collectors.exposition(format))
                case "/":
                    return .init(status: 200, contentType: "text/html; charset=utf-8", body: collectors.statusPage())
                default:
                    return .init(status: 404, body: "not found: try /metrics\n")
                }
            }
        }
    }
}

private extension String {
    func padding(_ width: Int) -> String { count >= width ? self + " " : self + String(repeating: " ", count: width - count) }
}
