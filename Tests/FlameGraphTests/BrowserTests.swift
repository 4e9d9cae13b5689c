import Foundation
import Testing

@testable import FlameGraph

/// The SVG in a real browser: headless Chromium (Debian's `chromium`, installed with apt-get
/// when missing) loads a harness page that embeds the graph in an iframe, clicks, hovers and
/// searches through the graph's own script, and writes what it saw into the page, which
/// `--dump-dom` prints. A screenshot of the result is kept as an artefact.
@Suite("flame graph in a headless browser", .serialized, .enabled(if: Chromium.available, Chromium.reason))
struct BrowserTests {
    static let profile = """
        main;alpha;leaf_a 30
        main;alpha;leaf_b 10
        main;beta;leaf_a 20
        main;beta 15
        other;leaf_c 25

        """

    /// What the harness reports, one JSON object.
    struct Report: Decodable {
        var ready: String?
        var error: String?
        var frames: Int
        var hover: String
        var zoomWidth: String
        var zoomChildWidth: String
        var ancestorClass: String
        var ancestorWidth: String
        var siblingHidden: Bool
        var unzoomVisible: Bool
        var matched: String
        var searchPercent: Double
        var highlighted: [String]
        var nestedPercent: Double
        var ctrlFMatched: String
        var resetWidth: String
        var resetMatched: String
    }

    static let harness = """
        <!DOCTYPE html>
        <html><body style="margin:0">
        <iframe id="graph" src="graph.svg" width="1200" height="160" style="border:0"></iframe>
        <pre id="result">pending</pre>
        <script>
        var frame = document.getElementById("graph");
        frame.addEventListener("load", function () {
          var out = {};
          try {
            var doc = frame.contentDocument, win = frame.contentWindow;
            out.ready = doc.documentElement.getAttribute("fg:ready");
            var groups = doc.getElementById("frames").children;
            out.frames = groups.length;
            function find(name) {
              for (var i = 0; i < groups.length; i++) {
                var title = groups[i].getElementsByTagName("title")[0].textContent;
                if (title.indexOf(name + " (") === 0) return groups[i];
              }
              return null;
            }
            function rect(name) { return find(name).getElementsByTagName("rect")[0]; }
            function fire(target, type, init) {
              target.dispatchEvent(new win.MouseEvent(type, Object.assign({bubbles: true, view: win}, init || {})));
            }
            // Hover shows name, samples and percentage.
            fire(rect("beta"), "mouseover");
            out.hover = doc.getElementById("details").textContent;
            // A click zooms "beta" to the full width; "main" and "all" stay, faded.
            fire(rect("beta"), "click");
            out.zoomWidth = rect("beta").getAttribute("width");
            var betaLeaf = null;
            for (var i = 0; i < groups.length; i++) {
              var g = groups[i];
              if (g.getElementsByTagName("title")[0].textContent.indexOf("leaf_a (20 ") === 0) betaLeaf = g;
            }
            out.zoomChildWidth = betaLeaf.getElementsByTagName("rect")[0].getAttribute("width");
            out.ancestorClass = find("main").getAttribute("class");
            out.ancestorWidth = rect("main").getAttribute("width");
            out.siblingHidden = find("alpha").classList.contains("hide");
            out.unzoomVisible = !doc.getElementById("unzoom").classList.contains("hide");
            // Search: the frames named leaf_a, 50% of all samples.
            out.searchPercent = win.search("^leaf_a$");
            out.matched = doc.getElementById("matched").textContent;
            out.highlighted = [];
            for (var j = 0; j < groups.length; j++) {
              var r = groups[j].getElementsByTagName("rect")[0];
              if (r.getAttribute("fill") === "rgb(230,0,230)") out.highlighted.push(groups[j].getElementsByTagName("title")[0].textContent);
            }
            // Nested matches count once: alpha (40) holds leaf_a/leaf_b; + leaf_a 20 + leaf_c 25.
            out.nestedPercent = win.search("alpha|leaf");
            // Ctrl-F asks for a term (the prompt is answered here) and searches.
            win.prompt = function () { return "^other$"; };
            win.dispatchEvent(new win.KeyboardEvent("keydown", {key: "f", keyCode: 70, ctrlKey: true, bubbles: true}));
            out.ctrlFMatched = doc.getElementById("matched").textContent;
            // Reset zoom and search.
            fire(doc.getElementById("unzoom"), "click");
            out.resetWidth = rect("beta").getAttribute("width");
            fire(doc.getElementById("search"), "click");
            out.resetMatched = doc.getElementById("matched").textContent;
            // Leave the page zoomed and searched for the screenshot.
            fire(rect("alpha"), "click");
            win.search("leaf");
          } catch (e) { out.error = String(e && e.stack || e); }
          document.getElementById("result").textContent = JSON.stringify(out);
        });
        </script>
        </body></html>
        """

    @Test("the SVG loads without script errors; click zooms, hover details, search marks and measures")
    func interactive() throws {
        let scratch = try ScratchDirectory("browser")
        var options = FlameGraphOptions()
        options.title = "Browser test"
        let svg = SVGRenderer(options: options).render(FoldedStacks(Self.profile))
        _ = try scratch.file("graph.svg", svg)
        let harness = try scratch.file("harness.html", Self.harness)

        let run = try Chromium.run(["--dump-dom", "file://" + harness], in: scratch)
        let uncaught = run.errors.split(separator: "\n").filter { $0.contains("Uncaught") || $0.contains(":CONSOLE") && $0.contains("Error") }
        #expect(uncaught.isEmpty, "script errors: \(uncaught)")
        let json = try #require(Self.result(in: run.output), "no result in the dumped page: \(run.output.prefix(2000))")
        let report = try JSONDecoder().decode(Report.self, from: Data(json.utf8))
        #expect(report.error == nil)
        #expect(report.ready == "true")
        #expect(report.frames == 9)
        #expect(report.hover == "Function: beta (35 samples, 35.00%)")
        #expect(report.zoomWidth == "1180.00")
        #expect(abs((Double(report.zoomChildWidth) ?? 0) - 1180 * 20 / 35) < 1)
        #expect(report.ancestorClass.contains("parent"))
        #expect(report.ancestorWidth == "1180.00")
        #expect(report.siblingHidden)
        #expect(report.unzoomVisible)
        #expect(abs(report.searchPercent - 50) < 1e-9)
        #expect(report.matched.hasPrefix("Matched: 50.00%"))
        #expect(report.highlighted.sorted() == ["leaf_a (20 samples, 20.00%)", "leaf_a (30 samples, 30.00%)"])
        #expect(abs(report.nestedPercent - 85) < 1e-9)
        #expect(report.ctrlFMatched.hasPrefix("Matched: 25.00%"))
        #expect(abs((Double(report.resetWidth) ?? 0) - 1180 * 0.35) < 0.01)
        #expect(report.resetMatched == " ")

        // The artefact: the harness after its clicks and searches.
        let artefacts = FileManager.default.temporaryDirectory.appendingPathComponent("bpfkit-flamegraph-artefacts")
        try FileManager.default.createDirectory(at: artefacts, withIntermediateDirectories: true)
        let screenshot = artefacts.appendingPathComponent("browser-test.png").path
        try? FileManager.default.removeItem(atPath: screenshot)
        let shot = try Chromium.run(["--window-size=1200,200", "--screenshot=" + screenshot, "file://" + harness], in: scratch)
        #expect(FileManager.default.fileExists(atPath: screenshot), "no screenshot: \(shot.errors.suffix(1000))")
        let svgCopy = artefacts.appendingPathComponent("browser-test.svg").path
        try? FileManager.default.removeItem(atPath: svgCopy)
        try? FileManager.default.copyItem(atPath: scratch.path("graph.svg"), toPath: svgCopy)
        print("flame graph browser test artefacts: \(screenshot), \(svgCopy)")
    }

    @Test("a large graph stays responsive: it loads and zooms within the time budget")
    func largeGraph() throws {
        let scratch = try ScratchDirectory("browser-large")
        var stacks = FoldedStacks()
        var rng = SeededGenerator(seed: 99)
        for _ in 0..<20000 {
            let depth = Int.random(in: 3...30, using: &rng)
            stacks.add((0..<depth).map { "function_\(Int.random(in: 0..<($0 < 3 ? 4 : 40), using: &rng))" }, count: Double(Int.random(in: 1...50, using: &rng)))
        }
        let summary = try SVGRenderer().write(stacks, toPath: scratch.path("graph.svg"))
        let page = """
            <!DOCTYPE html><html><body><iframe id="graph" src="graph.svg" width="1200" height="600"></iframe><pre id="result">pending</pre>
            <script>
            var frame = document.getElementById("graph");
            frame.addEventListener("load", function () {
              var doc = frame.contentDocument, win = frame.contentWindow, start = performance.now();
              var groups = doc.getElementById("frames").children;
              groups[groups.length - 1].getElementsByTagName("rect")[0].dispatchEvent(new win.MouseEvent("click", {bubbles: true}));
              var zoom = performance.now() - start;
              start = performance.now();
              win.search("function_1");
              var search = performance.now() - start;
              document.getElementById("result").textContent = JSON.stringify({ready: doc.documentElement.getAttribute("fg:ready"), frames: groups.length, zoom: zoom, search: search});
            });
            </script></body></html>
            """
        let harness = try scratch.file("harness.html", page)
        let run = try Chromium.run(["--dump-dom", "file://" + harness], in: scratch)
        let json = try #require(Self.result(in: run.output))
        struct Timing: Decodable { var ready: String?; var frames: Int; var zoom: Double; var search: Double }
        let timing = try JSONDecoder().decode(Timing.self, from: Data(json.utf8))
        #expect(timing.ready == "true")
        #expect(timing.frames == summary.framesDrawn)
        #expect(timing.zoom < 1000, "zoom took \(timing.zoom) ms for \(timing.frames) frames")
        #expect(timing.search < 1000, "search took \(timing.search) ms")
    }

    /// The JSON the harness wrote into `<pre id="result">`, unescaped.
    static func result(in dom: String) -> String? {
        guard let start = dom.range(of: "<pre id=\"result\">"), let end = dom.range(of: "</pre>", range: start.upperBound..<dom.endIndex) else { return nil }
        let text = dom[start.upperBound..<end.lowerBound]
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
        return text.hasPrefix("{") ? text : nil
    }
}

/// Headless Chromium from Debian.
enum Chromium {
    static let path = "/usr/bin/chromium"
    static let reason: Comment = "needs Chromium (/usr/bin/chromium; installed with apt-get install chromium when missing, as root)"

    /// Whether Chromium is there, installing it first if it is not (once per test run).
    static var available: Bool { installed }

    private static let installed: Bool = {
        if FileManager.default.isExecutableFile(atPath: path) { return true }
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/apt-get") else {
            print("flame graph browser tests skipped: \(path) is missing and apt-get cannot be run (not root)")
            return false
        }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("bpfkit-chromium-install.log").path
        print("installing chromium with apt-get (log: \(log))")
        let command = "(apt-get install -y --no-install-recommends chromium || (apt-get update && apt-get install -y --no-install-recommends chromium)) > \(log) 2>&1"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = ProcessInfo.processInfo.environment.merging(["DEBIAN_FRONTEND": "noninteractive"]) { $1 }
        do {
            try process.run()
            process.waitUntilExit()
        } catch {
            print("flame graph browser tests skipped: could not run apt-get: \(error)")
            return false
        }
        let ok = FileManager.default.isExecutableFile(atPath: path)
        if !ok { print("flame graph browser tests skipped: apt-get could not install chromium (see \(log))") }
        return ok
    }()

    struct Run {
        var output: String
        var errors: String
    }

    /// Runs headless Chromium with `arguments`, a fresh profile, and a time limit.
    static func run(_ arguments: [String], in scratch: ScratchDirectory, timeout: Double = 60) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        let profile = scratch.path("profile-\(UUID().uuidString.prefix(8))")
        process.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
            "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
        ] + arguments
        let output = scratch.path("chromium-\(UUID().uuidString.prefix(8)).out")
        let errors = output + ".err"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        _ = FileManager.default.createFile(atPath: errors, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: output)
        process.standardError = FileHandle(forWritingAtPath: errors)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            process.terminate()
            Thread.sleep(forTimeInterval: 1)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            Issue.record("chromium did not finish within \(timeout) s")
        }
        process.waitUntilExit()
        return Run(output: (try? String(contentsOfFile: output, encoding: .utf8)) ?? "",
                   errors: (try? String(contentsOfFile: errors, encoding: .utf8)) ?? "")
    }
}
