"""What the kernel holds for BPF: program, map and link ids (bpf(2) through ctypes, no
bpftool needed), which live processes hold which of them, and the tracefs probe events.

A BPF object outlives the process that made it only if something else holds it: another
process's descriptor, a pin in bpffs, an attachment that needs no descriptor, or a link.
`unheld` finds the objects nothing visible holds: what a leak would look like.
"""
import ctypes
import os
import struct

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR_BPF = 321  # x86_64
PROG_GET_NEXT_ID, MAP_GET_NEXT_ID, PROG_GET_FD_BY_ID, MAP_GET_FD_BY_ID = 11, 12, 13, 14
OBJ_GET_INFO_BY_FD, TASK_FD_QUERY, LINK_GET_FD_BY_ID, LINK_GET_NEXT_ID = 15, 20, 30, 31
KINDS = {"prog": (PROG_GET_NEXT_ID, PROG_GET_FD_BY_ID), "map": (MAP_GET_NEXT_ID, MAP_GET_FD_BY_ID),
         "link": (LINK_GET_NEXT_ID, LINK_GET_FD_BY_ID)}


def bpf(command, attr):
    buffer = ctypes.create_string_buffer(bytes(attr), len(attr))
    result = libc.syscall(NR_BPF, command, buffer, len(attr))
    return result, buffer.raw


def ids(kind):
    """Every id of `kind` ("prog", "map", "link") loaded now."""
    next_command, _ = KINDS[kind]
    current, found = 0, set()
    while True:
        result, raw = bpf(next_command, struct.pack("<II", current, 0) + bytes(8))
        if result != 0:
            return found
        current = struct.unpack_from("<I", raw, 4)[0]
        found.add(current)


def snapshot():
    return {kind: ids(kind) for kind in KINDS}


def describe(kind, object_id):
    """A name for a program or map (links have none), or "" if it is gone."""
    _, fd_command = KINDS[kind]
    fd, _ = bpf(fd_command, struct.pack("<III", object_id, 0, 0) + bytes(4))
    if fd < 0:
        return ""
    try:
        info = ctypes.create_string_buffer(256)
        ok, _ = bpf(OBJ_GET_INFO_BY_FD, struct.pack("<IIQ", fd, 256, ctypes.addressof(info)))
        if ok != 0:
            return "?"
        offset = {"prog": 64, "map": 24, "link": None}[kind]
        if offset is None:
            return "link of prog %d" % struct.unpack_from("<I", info.raw, 8)[0]
        return info.raw[offset:offset + 16].split(b"\0")[0].decode(errors="replace")
    finally:
        os.close(fd)


def maps_of_program(program_id):
    fd, _ = bpf(PROG_GET_FD_BY_ID, struct.pack("<III", program_id, 0, 0) + bytes(4))
    if fd < 0:
        return set()
    try:
        map_ids = (ctypes.c_uint32 * 64)()
        info = ctypes.create_string_buffer(256)
        struct.pack_into("<IQ", info, 52, 64, ctypes.addressof(map_ids))
        ok, _ = bpf(OBJ_GET_INFO_BY_FD, struct.pack("<IIQ", fd, 256, ctypes.addressof(info)))
        if ok != 0:
            return set()
        count = min(64, struct.unpack_from("<I", info.raw, 52)[0])
        return set(map_ids[:count])
    finally:
        os.close(fd)


def held_by(pids=None):
    """Ids that live processes (all, or `pids`) hold through descriptors: programs, maps and
    links in fdinfo, programs attached to perf events (BPF_TASK_FD_QUERY), and the maps
    those programs use."""
    held = {kind: set() for kind in KINDS}
    for pid in pids if pids is not None else [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in descriptors:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if not target.startswith("anon_inode:"):
                    continue
                if target == "anon_inode:[perf_event]":
                    attr = struct.pack("<IIIIQIIQQ", int(pid), int(fd), 0, 0, 0, 0, 0, 0, 0)
                    ok, raw = bpf(TASK_FD_QUERY, attr)
                    if ok == 0:
                        held["prog"].add(struct.unpack_from("<I", raw, 24)[0])
                    continue
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    for line in f:
                        key, _, value = line.partition(":")
                        if key in ("prog_id", "map_id", "link_id"):
                            held[key[:-3]].add(int(value))
            except (OSError, ValueError):
                continue
    for program in list(held["prog"]):
        held["map"] |= maps_of_program(program)
    return held


def unheld(new):
    """Of `new` ({kind: ids}, appeared since a snapshot), those still loaded that no live
    process holds."""
    still = {kind: new[kind] & ids(kind) for kind in KINDS}
    if not any(still.values()):
        return still
    held = held_by()
    return {kind: still[kind] - held[kind] for kind in KINDS}


def probe_events():
    """Lines of the tracefs dynamic probe lists (kprobes, uprobes, all dynamic events)."""
    lines = set()
    for root in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        for name in ("kprobe_events", "uprobe_events", "dynamic_events"):
            try:
                with open(f"{root}/{name}") as f:
                    lines |= {f"{name}: {line.strip()}" for line in f if line.strip()}
            except OSError:
                pass
        if lines:
            break
    return lines


def pins():
    found = set()
    for directory, _, files in os.walk("/sys/fs/bpf"):
        found |= {os.path.join(directory, name) for name in files}
    return found
