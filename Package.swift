// swift-tools-version:6.1
import Foundation
import PackageDescription

/// `*.bpf.c` files under a target folder, relative to it: SwiftPM must not compile them as C
/// (they target BPF, not the host), so each target excludes them and the BPFCompiler plugin
/// compiles them instead.
func bpfSources(under target: String) -> [String] {
    let root = Context.packageDirectory + "/" + target
    guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
    return walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".bpf.c") }.sorted()
}

let package = Package(
    name: "BPFKit",
    products: [
        .library(name: "BPFKit", targets: ["BPFKit"]),
        .executable(name: "bpfkit", targets: ["bpfkit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // The syscalls Swift cannot make itself and the kernel ABI structs they take.
        .target(name: "CBPF"),

        // The BPF library: ELF and BTF parsing, loading, maps, ring/perf buffers, attaching.
        .target(name: "BPFKit", dependencies: ["CBPF"]),

        // Tables, JSON lines and (later) histograms: shared output mechanics for every tool.
        .target(name: "Report"),

        // Event structs shared by the BPF programs and the Swift tools.
        .target(name: "ToolEvents"),

        // One folder per tool: its Swift file beside its `.bpf.c`, compiled by the BPFCompiler plugin.
        .target(
            name: "Tools",
            dependencies: [
                "BPFKit", "Report", "ToolEvents",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["BPF"] + bpfSources(under: "Sources/Tools"),
            plugins: ["BPFCompiler"]
        ),

        .executableTarget(
            name: "bpfkit",
            dependencies: [
                "Tools",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Compiles every `*.bpf.c` of a target with the toolchain's clang and embeds the object.
        .plugin(name: "BPFCompiler", capability: .buildTool()),

        .testTarget(
            name: "BPFKitTests",
            dependencies: ["BPFKit", "CBPF"],
            exclude: ["Fixtures"],
            plugins: ["BPFCompiler"]
        ),
        .testTarget(
            name: "ToolsTests",
            dependencies: ["Tools", "BPFKit", "Report"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
