// swift-tools-version:6.1
import PackageDescription

/// Each tool's BPF program, beside its Swift file. SwiftPM must not compile them as C (they
/// target BPF, not the host), so the Tools target excludes them and the BPFCompiler plugin
/// compiles them instead. Listed by hand: SwiftPM caches manifests by their text, so a list
/// computed from the file system would miss a newly added program. Add each new one here.
let toolPrograms = [
    "Execsnoop/execsnoop.bpf.c",
    "Opensnoop/opensnoop.bpf.c",
    "Profile/profile.bpf.c",
    "Offcputime/offcpu.bpf.c",
    "Runqlat/runqlat.bpf.c",
    "Runqlen/runqlen.bpf.c",
    "Biolatency/biolatency.bpf.c",
    "Biosnoop/biosnoop.bpf.c",
    "Bitesize/bitesize.bpf.c",
    "Fsslower/fsslower.bpf.c",
    "Cachestat/cachestat.bpf.c",
    "Exporter/exporter_biolatency.bpf.c",
    "Exporter/exporter_runqlat.bpf.c",
    "Exporter/exporter_syscalls.bpf.c",
    "Exporter/exporter_tcp.bpf.c",
    "Exporter/exporter_offcpu.bpf.c",
    "Memleak/memleak.bpf.c",
    "Tcpconnect/tcpconnect.bpf.c",
    "Tcpaccept/tcpaccept.bpf.c",
    "Tcplife/tcplife.bpf.c",
    "Tcpretrans/tcpretrans.bpf.c",
    "Gethostlatency/gethostlatency.bpf.c",
    "Usdt/usdt.bpf.c",
    "Tsa/tsa.bpf.c",
]

/// How release builds link `bpfkit` so that an event tool starts in fewer resident pages (peak
/// RSS 13.2 → 7.1 MB; bench/RESULTS.md "Peak RSS of the event tools"). One static executable:
/// no dynamic loader, libc, libm or libstdc++ mapped beside it and no relocations to apply at
/// start (glibc ≥ 2.34 has its `files` name service built in; no tool calls another). The kernel
/// maps a binary's pages in runs around each one touched (64 KiB, or a whole large folio), so
/// what counts is how many runs start-up touches: lld places the functions in
/// `Sources/bpfkit/Link/hot-text.order` (what the event tools ran, libc's included, recorded by
/// `Sources/bpfkit/Link/generate`) together at the start of `.text`; a stale list only costs
/// RSS, never correctness.
let hotTextLinking = LinkerSetting.unsafeFlags([
    "-static-executable",
    "-use-ld=lld",
    "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/Sources/bpfkit/Link/hot-text.order",
    "-Xlinker", "--no-warn-symbol-ordering",
], .when(configuration: .release))

let package = Package(
    name: "BPFKit",
    products: [
        .library(name: "BPFKit", targets: ["BPFKit"]),
        .executable(name: "bpfkit", targets: ["bpfkit"]),
        // For packages that write their own tools (see Examples/bitehist): the build plugin that
        // compiles and embeds `*.bpf.c`, the BPF-side headers it compiles them with, and the
        // histogram and column output the tools print with.
        .plugin(name: "BPFCompiler", targets: ["BPFCompiler"]),
        .library(name: "BPFHeaders", targets: ["BPFHeaders"]),
        .library(name: "Report", targets: ["Report"]),
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

        // Flame graphs: folded stacks in and out, interactive SVG, differential profiles.
        .target(name: "FlameGraph"),

        // Event structs shared by the BPF programs and the Swift tools.
        .target(name: "ToolEvents"),

        // The BPF-side headers (helpers by number, CO-RE macros, the small CO-RE vmlinux.h, the
        // event ring), as a header-only product for other packages' BPF programs.
        .target(name: "BPFHeaders", path: "Sources/Tools/BPF", publicHeadersPath: "."),

        // Symbolization: kallsyms, per-process ELF symbols, JIT perf maps, demangling.
        .target(name: "CSymbolize", linkerSettings: [.linkedLibrary("stdc++")]),
        .target(name: "Symbolize", dependencies: ["BPFKit", "CSymbolize"]),

        // pprof profiles (gzip-compressed profile.proto), with the system's zlib for gzip.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "Pprof", dependencies: ["CZlib"]),

        // One folder per tool: its Swift file beside its `.bpf.c`, compiled by the BPFCompiler plugin.
        .target(
            name: "Tools",
            dependencies: [
                "BPFKit", "Report", "ToolEvents",
                "FlameGraph",
                "Symbolize",
                "Pprof",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["BPF"] + toolPrograms,
            plugins: ["BPFCompiler"]
        ),

        .executableTarget(
            name: "bpfkit",
            dependencies: [
                "Tools",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["Link"],
            linkerSettings: [hotTextLinking]
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
            name: "FlameGraphTests",
            dependencies: ["FlameGraph", "Tools"],
            exclude: ["Golden"]
        ),
        .testTarget(
            name: "SymbolizeTests",
            dependencies: ["Symbolize", "BPFKit"]
        ),
        .testTarget(
            name: "PprofTests",
            dependencies: ["Pprof"]
        ),
        .testTarget(
            name: "ToolsTests",
            dependencies: ["Tools", "BPFKit", "Report"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer targets (Fuzz/), declared only when BPFKIT_FUZZ is set: `reliability/fuzz` builds
// them with `-sanitize=fuzzer,address` in its own scratch path (.build-fuzz), so a normal
// `swift build` or `swift test` never compiles them.
if Context.environment["BPFKIT_FUZZ"] != nil {
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("FuzzELF", ["BPFKit", "Symbolize"]),
        ("FuzzBPFObject", ["BPFKit"]),
        ("FuzzBTF", ["BPFKit"]),
        ("FuzzCORE", ["BPFKit"]),
        ("FuzzFolded", ["FlameGraph"]),
        ("FuzzPerfMap", ["Symbolize"]),
        ("FuzzProcMaps", ["Symbolize"]),
    ]
    package.targets.append(.target(name: "FuzzDriver", path: "Fuzz/FuzzDriver"))
    for (name, dependencies) in fuzzTargets {
        package.targets.append(.executableTarget(name: name, dependencies: ["FuzzDriver"] + dependencies, path: "Fuzz/\(name)",
            // gold trips over the entry point SwiftPM renames beside libFuzzer's own main.
            linkerSettings: [.unsafeFlags(["-use-ld=lld"])]))
    }
}

// Release builds put every function in a section of its own, so that the linker can gather the
// code a tool runs while it starts into few pages (see `hotTextLinking`). swiftc skips code
// generation when a module's IR is unchanged, so a release build made before this flag keeps
// its objects until they are rebuilt (`rm -rf .build/release/*.build` once).
// The library products' targets (and what they build from) are left out: a package that depends
// on BPFKit from a URL may not build unsafe flags.
let libraryTargets: Set<String> = ["BPFKit", "CBPF", "Report", "BPFHeaders"]
for target in package.targets where (target.type == .regular || target.type == .executable) && !libraryTargets.contains(target.name) {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .unsafeFlags(["-Xfrontend", "-function-sections"], .when(configuration: .release)),
    ]
    target.cSettings = (target.cSettings ?? []) + [
        .unsafeFlags(["-ffunction-sections"], .when(configuration: .release)),
    ]
}
