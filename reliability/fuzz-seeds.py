#!/usr/bin/env python3
"""Writes the real inputs each libFuzzer target starts from: reliability/fuzz-seeds.py OUT BPF_OBJECTS...

ELF: the tools' BPF objects and two small system binaries. BTF: the objects' .BTF sections and
slices of the running kernel's /sys/kernel/btf/vmlinux under fresh headers. Folded stacks: the
flame graph golden inputs. Perf map: one node writes with --perf-basic-prof. /proc/PID/maps:
a few live processes'.
"""
import glob
import os
import shutil
import struct
import subprocess
import sys
import tempfile

out, objects = sys.argv[1], sys.argv[2:]
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)


def sections(elf):
    """Name to bytes of a little-endian ELF64's sections."""
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    names = headers[shstrndx]
    result = {}
    for h in headers:
        start = names[4] + h[0]
        name = elf[start:elf.index(b"\0", start)].decode()
        result[name] = elf[h[4]:h[4] + h[5]] if h[1] != 8 else b""
    return result


def btf_type_ends(btf):
    """Offsets (from the type section start) where each type ends."""
    _, _, _, header_length, type_offset, type_length = struct.unpack_from("<HBBIII", btf, 0)
    extra = {1: lambda v: 4, 3: lambda v: 12, 4: lambda v: 12 * v, 5: lambda v: 12 * v, 6: lambda v: 8 * v,
             13: lambda v: 8 * v, 14: lambda v: 4, 15: lambda v: 12 * v, 17: lambda v: 4, 19: lambda v: 12 * v}
    start = header_length + type_offset
    offset, ends = 0, []
    while offset < type_length:
        _, info, _ = struct.unpack_from("<III", btf, start + offset)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        offset += 12 + extra.get(kind, lambda v: 0)(vlen)
        ends.append(offset)
    return ends


def btf_slice(btf, first, count, string_bytes=65536):
    """Types first..first+count-1 and the start of the strings, under a fresh header."""
    _, _, _, header_length, type_offset, type_length, string_offset, string_length = struct.unpack_from("<HBBIIIII", btf, 0)
    ends = [0] + btf_type_ends(btf)
    types_start = header_length + type_offset
    types = btf[types_start + ends[first - 1]:types_start + ends[min(first - 1 + count, len(ends) - 1)]]
    strings_start = header_length + string_offset
    strings = btf[strings_start:strings_start + min(string_length, string_bytes)]
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    return header + types + strings


for path in objects:
    name = os.path.basename(path)
    data = open(path, "rb").read()
    if len(data) > 100_000:
        continue  # large seeds slow every execution; the small objects cover the same layout
    for target in ("FuzzELF", "FuzzBPFObject", "FuzzCORE"):
        write(target, name, data)
    found = sections(data)
    if ".BTF" in found:
        write("FuzzBTF", name + ".BTF", found[".BTF"])

for binary in ("/usr/bin/true", "/lib/x86_64-linux-gnu/libdl.so.2"):
    if os.path.exists(binary):
        write("FuzzELF", os.path.basename(binary), open(binary, "rb").read())

if os.path.exists("/sys/kernel/btf/vmlinux"):
    vmlinux = open("/sys/kernel/btf/vmlinux", "rb").read()
    write("FuzzBTF", "vmlinux-first-400", btf_slice(vmlinux, 1, 400))
    write("FuzzBTF", "vmlinux-from-5000", btf_slice(vmlinux, 5000, 200))

for folded in glob.glob(os.path.join(root, "Tests/FlameGraphTests/Golden/*.folded")):
    write("FuzzFolded", os.path.basename(folded), open(folded, "rb").read()[:65536])

if shutil.which("node"):
    # In a scratch directory: node leaves isolate-*-v8.log files in its working directory.
    scratch = tempfile.mkdtemp(prefix="bpfkit-seeds-")
    process = subprocess.run(["node", "--perf-basic-prof", "-e",
                              "function f(n){return n<2?n:f(n-1)+f(n-2)}; f(25); console.log(process.pid)"],
                             capture_output=True, text=True, cwd=scratch)
    shutil.rmtree(scratch, ignore_errors=True)
    perf_map = f"/tmp/perf-{process.stdout.strip()}.map"
    if os.path.exists(perf_map):
        write("FuzzPerfMap", "node.map", open(perf_map, "rb").read()[:65536])
        os.unlink(perf_map)
write("FuzzPerfMap", "small.map", b"7f0000001000 40 LazyCompile:~handler /srv/app.js:12\n0x7f0000001040 0x10 stub\n")

for pid in ["self", "1"] + sorted(p for p in os.listdir("/proc") if p.isdigit())[:6]:
    try:
        write("FuzzProcMaps", f"maps-{pid}", open(f"/proc/{pid}/maps", "rb").read())
    except OSError:
        pass
