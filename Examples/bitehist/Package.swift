// swift-tools-version:6.1
// A tool written outside BPFKit, as a user would: its BPF program in C beside its Swift file,
// compiled at build time by BPFKit's plugin, loaded by BPFKit at run time (no LLVM then).
import PackageDescription

let package = Package(
    name: "bitehist",
    dependencies: [
        .package(name: "BPFKit", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "bitehist",
            dependencies: [
                .product(name: "BPFKit", package: "BPFKit"),
                .product(name: "Report", package: "BPFKit"),
                .product(name: "BPFHeaders", package: "BPFKit"),  // bpf_helpers.h, vmlinux.h for bitehist.bpf.c
            ],
            exclude: ["bitehist.bpf.c"],
            plugins: [.plugin(name: "BPFCompiler", package: "BPFKit")]
        ),
    ]
)
