import ArgumentParser
import BPFKit
import Report

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How the fsslower family and fsdist get into the kernel, from fsslower.bpf.c: fentry/fexit
/// on the file system's own functions where the kernel allows BPF trampolines (in vmlinux or
/// in the file system's module), else the system calls, keeping in the kernel only regular
/// files of the traced file system type.
struct FileSystemHooks {
    let tool: String
    let fileSystem: String
    let pid: UInt32?
    let verbose: Bool

    /// Checks the file system exists here, loads and attaches; `configure` sets the globals
    /// particular to the tool (fsdist's histogram mode).
    func load(minimum: Double, configure: (inout ObjectSpec) throws -> Void = { _ in }) throws -> BPFObject {
        if let pid { try requireProcess(pid) }
        let functions = FileSystemFunctions.named(fileSystem)
        let typeNames = functions?.typeNames ?? [fileSystem]
        guard !fileSystem.isEmpty, fileSystem.utf8.count < 16 else { throw ValidationError("invalid file system type '\(fileSystem)'") }
        let known = SlowerTracer.kernelFileSystems()
        guard typeNames.contains(where: known.contains) else {
            throw ValidationError("\(fileSystem): no such file system on this kernel (not in /proc/filesystems; module not loaded?)")
        }
        // Known but mounted nowhere: nothing to trace, say so rather than wait silently.
        let mounted = Set((readSmallFile("/proc/self/mounts", limit: 4 << 20) ?? "").split(separator: "\n").compactMap {
            $0.split(separator: " ").dropFirst(2).first.map(String.init)
        })
        guard typeNames.contains(where: mounted.contains) else {
            throw ValidationError("\(fileSystem): no \(fileSystem) file system is mounted")
        }

        var whyNoFentry = functions.map { KernelHooks.whyNoFentry([$0.read, $0.write, $0.open, $0.fsync]) }
            ?? "no fentry targets known for \(fileSystem)"
        if whyNoFentry == nil, let functions {
            do {
                let object = try load(typeNames: [], minimum: minimum, programs: [
                    "fsslower_fs_read", "fsslower_fs_read_exit", "fsslower_fs_write", "fsslower_fs_write_exit",
                    "fsslower_fs_open", "fsslower_fs_open_exit", "fsslower_fs_fsync", "fsslower_fs_fsync_exit",
                ]) { spec in
                    for (name, function) in [("read", functions.read), ("write", functions.write),
                                             ("open", functions.open), ("fsync", functions.fsync)] {
                        spec.retarget("fsslower_fs_\(name)", to: .fentry(function: function))
                        spec.retarget("fsslower_fs_\(name)_exit", to: .fexit(function: function))
                    }
                    try configure(&spec)
                }
                if verbose {
                    Output.standardError.line("\(tool): attaching fentry/fexit to \(functions.read), \(functions.write), \(functions.open), \(functions.fsync)")
                }
                return object
            } catch {
                whyNoFentry = "\(error)"
            }
        }
        let calls = SlowerTracer.syscalls(["read", "pread64", "readv", "write", "pwrite64", "writev", "open", "openat", "openat2", "fsync", "fdatasync"])
        let object = try load(typeNames: typeNames, minimum: minimum,
                              programs: Set(calls.flatMap { ["fsslower_enter_" + $0, "fsslower_exit_" + $0] }), configure: configure)
        if verbose {
            Output.standardError.line("\(tool): attaching to syscalls:sys_{enter,exit}_{\(calls.joined(separator: ","))}, "
                + "keeping \(typeNames.joined(separator: "/")) files (no fentry: \(whyNoFentry ?? ""))")
        }
        return object
    }

    private func load(typeNames: [String], minimum: Double, programs: Set<String>,
                      configure: (inout ObjectSpec) throws -> Void) throws -> BPFObject {
        let object = try BPFObject(base64: BPFObjects.fsslower, name: "fsslower", programs: programs) { spec in
            try spec.setGlobal("target_pid", to: pid ?? 0)
            try spec.setGlobal("self_pid", to: UInt32(getpid()))
            try spec.setGlobal("min_ns", to: UInt64(minimum * 1_000_000))
            try spec.setGlobal("fs_name", to: cChars16(typeNames.first ?? ""))
            try spec.setGlobal("fs_name2", to: cChars16(typeNames.count > 1 ? typeNames[1] : ""))
            try spec.setGlobal("regular_only", to: true)
            try configure(&spec)
        }
        try object.attachAll()
        return object
    }
}
