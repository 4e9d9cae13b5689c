import Foundation
import Testing

/// A real Prometheus server (Debian's `prometheus`, installed when missing) on a free
/// loopback port, scraping one target every second, with its data in a temporary directory.
final class PrometheusServer {
    let process = Process()
    let port = freePort()
    private let directory: String
    private let log: FileHandle

    static let binary = "/usr/bin/prometheus"

    /// Installs Debian's prometheus package (which brings promtool) if it is not there.
    static func install() throws {
        if FileManager.default.isExecutableFile(atPath: binary) && FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") {
            return
        }
        let status = try shell("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus curl")
        guard status == 0, FileManager.default.isExecutableFile(atPath: binary) else {
            throw ExporterTestError("could not install Debian's prometheus package (apt-get exit \(status))")
        }
    }

    init(scraping target: Int) throws {
        try Self.install()
        directory = NSTemporaryDirectory() + uniqueMarker("prometheus")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: bpfkit
                static_configs:
                  - targets: ["127.0.0.1:\(target)"]
            """
        try config.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: directory + "/log", contents: nil)
        log = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/log"))
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = [
            "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
            "--web.listen-address=127.0.0.1:\(port)",
        ]
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// The value of an instant query that returns one series, or nil while it returns none.
    func value(of query: String) throws -> Double? {
        let encoded = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? query
        let output = try capture("/usr/bin/curl", ["-s", "--max-time", "5", "http://127.0.0.1:\(port)/api/v1/query?query=\(encoded)"])
        guard let json = try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
              let data = json["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
              let first = result.first, let value = first["value"] as? [Any], let text = value.last as? String
        else { return nil }
        return Double(text)
    }

    /// Polls `query` until `condition` holds for its value; returns the last value.
    @discardableResult
    func wait(for query: String, timeout: Double = 60, until condition: (Double) -> Bool) throws -> Double? {
        let deadline = Date().addingTimeInterval(timeout)
        var last: Double?
        repeat {
            last = try value(of: query)
            if let last, condition(last) { return last }
            Thread.sleep(forTimeInterval: 0.5)
        } while Date() < deadline
        return last
    }

    var logText: String { (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? "" }

    func stop() {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? log.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }
}

/// Runs `command` with sh; returns the exit status.
@discardableResult
func shell(_ command: String) throws -> Int32 {
    try runCommand("/bin/sh", ["-c", command])
}

/// Runs a program and returns its standard output (and standard input from `input`).
func capture(_ path: String, _ arguments: [String], input: String? = nil, status: UnsafeMutablePointer<Int32>? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    let stdin = Pipe()
    if input != nil { process.standardInput = stdin }
    try process.run()
    if let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
    }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    status?.pointee = process.terminationStatus
    return String(decoding: data, as: UTF8.self)
}
