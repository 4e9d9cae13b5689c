// bitehist: block I/O size histograms — bcc's examples/tracing/bitehist.py, written with
// BPFKit. Run as root; Ctrl-C (or the seconds given as the argument) ends the trace.
import BPFKit
import Report

#if canImport(Glibc)
import Glibc
#endif

/// The BPFCompiler plugin adds `BPFObjects.bitehist`: bitehist.bpf.c, compiled and embedded.
enum BPFObjects {}

let out = Output.standardOutput  // unbuffered: each line shows at once, also in a pipe

// Load the program and attach it (its section says where: tp_btf/block_rq_issue).
let object = try BPFObject(base64: BPFObjects.bitehist, name: "bitehist")
try object.attachAll()
out.line("Tracing... Hit Ctrl-C to end.")

// Wait for Ctrl-C, SIGTERM or the end of the duration.
var signals = sigset_t()
sigemptyset(&signals)
for signal in [SIGINT, SIGTERM, SIGALRM] { sigaddset(&signals, signal) }
sigprocmask(SIG_BLOCK, &signals, nil)
if CommandLine.arguments.count > 1, let seconds = UInt32(CommandLine.arguments[1]) { alarm(seconds) }
var received: Int32 = 0
sigwait(&signals, &received)

// Read the kernel's counts and print them as bcc does.
func counts(_ name: String) throws -> [UInt64] {
    try TypedMap<UInt32, UInt64>(object.map(name)).entries().sorted { $0.key < $1.key }.map(\.value)
}
out.write("\nlog2 histogram\n~~~~~~~~~~~~~~\n" + Histogram.log2(try counts("log2_kbytes"), unit: "kbytes"))
out.write("\nlinear histogram\n~~~~~~~~~~~~~~~~\n" + Histogram.linear(try counts("linear_kbytes"), unit: "kbytes"))
object.close()
