import Foundation
import Testing

/// Every storage tool's tests, one at a time: they share the machine's loop devices, disks and
/// page cache, and time their I/O against tools that trace the whole system.
@Suite("storage tools, against the real kernel", .serialized)
struct StorageTools {}

/// Runs a command to completion; returns its exit status and standard output.
@discardableResult
func shell(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    let output = Pipe()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Whether a program is installed (mkfs.xfs, mkfs.btrfs: from Debian's xfsprogs and btrfs-progs,
/// which `.ci/run` installs).
func installed(_ program: String) -> Bool {
    ["/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"].contains { FileManager.default.isExecutableFile(atPath: $0 + program) }
}

/// A loop device over a sparse file, optionally with a mounted file system; everything is
/// undone by `close()` (call it in a `defer`), whatever happened in between.
final class LoopDevice {
    let image: String
    let device: String      // /dev/loopN
    var name: String { String(device.dropFirst("/dev/".count)) }
    private(set) var mountPoint: String?

    init(megabytes: Int) throws {
        image = "/var/tmp/" + uniqueMarker("loop") + ".img"
        guard FileManager.default.createFile(atPath: image, contents: nil),
              truncate(image, off_t(megabytes) << 20) == 0 else {
            throw LoopError("cannot create \(image)")
        }
        let result = try shell("/usr/sbin/losetup", ["--find", "--show", image])
        let device = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0, device.hasPrefix("/dev/loop") else {
            unlink(image)
            throw LoopError("losetup failed (\(result.status))")
        }
        self.device = device
    }

    /// Makes file system `type` on the device (mkfs.TYPE) and mounts it; returns the mount point.
    func mount(_ type: String) throws -> String {
        let force = type == "ext4" ? ["-q", "-F"] : ["-q", "-f"]
        let made = try shell("/usr/sbin/mkfs.\(type)", force + [device])
        guard made.status == 0 else { throw LoopError("mkfs.\(type) \(device) failed (\(made.status))") }
        let point = "/var/tmp/" + uniqueMarker("mnt-\(type)")
        try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: true)
        let mounted = try shell("/usr/bin/mount", ["-t", type, device, point])
        guard mounted.status == 0 else {
            rmdir(point)
            throw LoopError("mount -t \(type) \(device) failed (\(mounted.status))")
        }
        mountPoint = point
        return point
    }

    func close() {
        if let mountPoint {
            for _ in 0..<50 {
                if (try? shell("/usr/bin/umount", [mountPoint]))?.status == 0 { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            rmdir(mountPoint)
            self.mountPoint = nil
        }
        _ = try? shell("/usr/sbin/losetup", ["--detach", device])
        unlink(image)
    }
}

struct LoopError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `dd` writes (or reads) of `count` blocks of `size` bytes straight to the device (O_DIRECT).
@discardableResult
func directIO(_ device: String, write: Bool, size: Int, count: Int, skipBlocks: Int = 0) throws -> Int32 {
    let arguments = write
        ? ["if=/dev/zero", "of=\(device)", "bs=\(size)", "count=\(count)", "seek=\(skipBlocks)", "oflag=direct", "conv=notrunc"]
        : ["if=\(device)", "of=/dev/null", "bs=\(size)", "count=\(count)", "skip=\(skipBlocks)", "iflag=direct"]
    return try runProgram("/usr/bin/dd", arguments)
}

/// Writes `size` bytes at `offset` from this process with O_DIRECT (a page-aligned buffer).
func directWrite(_ device: String, size: Int, offset: Int) throws {
    let fd = open(device, O_WRONLY | 0o40000)  // O_DIRECT (x86_64; Glibc's module does not export it)
    guard fd >= 0 else { throw LoopError("open \(device): errno \(errno)") }
    defer { Glibc.close(fd) }
    var buffer: UnsafeMutableRawPointer?
    guard posix_memalign(&buffer, 4096, size) == 0, let buffer else { throw LoopError("posix_memalign") }
    defer { free(buffer) }
    memset(buffer, 0x5a, size)
    guard pwrite(fd, buffer, size, off_t(offset)) == size else { throw LoopError("pwrite \(device): errno \(errno)") }
}

/// Drops a file's clean pages from the page cache (so the next read is a cold one).
func dropCache(_ path: String) {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return }
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
    Glibc.close(fd)
}

/// Writes a file's dirty pages back and waits: `dropCache` (DONTNEED) drops clean pages only.
/// An fsync of its own, so call it only where no tool under test counts fsyncs.
func writeBack(_ path: String) {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return }
    fsync(fd)
    Glibc.close(fd)
}

/// Reads a whole file with read(2) in 128 KiB calls; returns the bytes read.
@discardableResult
func readWholeFile(_ path: String) -> Int {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return -1 }
    defer { Glibc.close(fd) }
    var buffer = [UInt8](repeating: 0, count: 128 << 10)
    var total = 0
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count <= 0 { return total }
        total += count
    }
}

/// A program run in the background, with ToolRun's waiting and stopping.
typealias ProgramRun = ToolRun

extension ToolRun {
    /// `bpfkit` with `arguments`, and `BPFKIT_HOOKS=hooks` when given.
    convenience init(tool arguments: [String], hooks: String?) throws {
        try self.init(ToolRun.binary.path, arguments, environment: hooks.map { ["BPFKIT_HOOKS": $0] } ?? [:])
    }
}
