import ArgumentParser

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `--cgroup PATH`: trace only tasks in one cgroup v2 group (bcc's `--cgroupmap`, without
/// the pinned map). A cgroup's id, as `bpf_get_current_cgroup_id()` returns it, is the inode
/// number of its directory in the cgroup2 file system.
struct CgroupFilter: ExpressibleByArgument, Sendable {
    var path: String

    init?(argument: String) {
        guard !argument.isEmpty else { return nil }
        path = argument
    }

    /// The group's id; throws a one-line error when the path is no cgroup v2 directory.
    func id() throws -> UInt64 {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ValidationError("--cgroup \(path): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw ValidationError("--cgroup \(path): not a directory") }
        // Every cgroup v2 directory has cgroup.controllers; v1 hierarchies and plain directories do not.
        guard access(path + "/cgroup.controllers", F_OK) == 0 else {
            throw ValidationError("--cgroup \(path): not in a cgroup v2 file system (e.g. /sys/fs/cgroup/…)")
        }
        return UInt64(info.st_ino)
    }
}
