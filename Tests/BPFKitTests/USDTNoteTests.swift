// `.note.stapsdt` parsing: argument operands, then a real program built with <sys/sdt.h>
// (Debian's systemtap-sdt-dev) whose probe sites, arguments and semaphore are known.
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import BPFKit

/// Builds the probe program (two files: only `guarded` has a semaphore); returns its path.
private func buildProbeProgram() throws -> String {
    if access("/usr/include/x86_64-linux-gnu/sys/sdt.h", F_OK) != 0 && access("/usr/include/sys/sdt.h", F_OK) != 0 {
        _ = system("apt-get install -y -qq systemtap-sdt-dev >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq systemtap-sdt-dev >/dev/null)")
    }
    let directory = "/tmp/bpfkit-usdt-note-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    mkdir(directory, 0o755)
    let main = """
        #include <sys/sdt.h>
        #include <stdlib.h>
        #include <unistd.h>
        void guarded(int value);
        int main(int argc, char **argv) {
            int count = argc > 1 ? atoi(argv[1]) : 1;
            const char *word = "hello-usdt";
            for (int i = 0; i < count; i++) {
                volatile long big = -1234567890123L;
                int small = -42;
                DTRACE_PROBE4(bpfkit_test, fire, i, small, big, word);
                DTRACE_PROBE2(bpfkit_test, constant, 5, 77);
                guarded(i + 1000);
            }
            return 0;
        }
        """
    let guarded = """
        #define _SDT_HAS_SEMAPHORES 1
        #include <sys/sdt.h>
        unsigned short bpfkit_test_guarded_semaphore __attribute__((unused, section(".probes")));
        void guarded(int value) {
            if (__builtin_expect(bpfkit_test_guarded_semaphore, 0)) DTRACE_PROBE1(bpfkit_test, guarded, value);
        }
        """
    for (name, text) in [("main.c", main), ("guarded.c", guarded)] {
        let file = fopen(directory + "/" + name, "w")
        fputs(text, file)
        fclose(file)
    }
    let binary = directory + "/probes"
    let command = "cc -O1 -o \(binary) \(directory)/main.c \(directory)/guarded.c"
    guard system(command) == 0 else { throw AttachError("could not build the USDT program: \(command)") }
    return binary
}

@Suite("USDT notes")
struct USDTNoteTests {
    @Test("operands: registers of every width, memory at register+offset, constants, and the unknown")
    func operands() throws {
        let edi = try #require(USDTArgument("-4@%edi"))
        #expect(edi == USDTArgument(size: 4, isSigned: true, location: .register(USDTRegister(named: "edi")!)))
        #expect(USDTRegister(named: "edi")?.ptRegsOffset == 112)
        #expect(USDTRegister(named: "r12")?.ptRegsOffset == 24)
        #expect(USDTRegister(named: "r9d")?.ptRegsOffset == 64)
        #expect(USDTRegister(named: "al")?.ptRegsOffset == 80)
        #expect(USDTRegister(named: "sil")?.ptRegsOffset == 104)
        #expect(USDTRegister(named: "xmm0") == nil)
        let stack = try #require(USDTArgument("8@-16(%rbp)"))
        #expect(stack.size == 8 && !stack.isSigned)
        #expect(stack.location == .memory(USDTRegister(named: "rbp")!, offset: -16))
        #expect(USDTArgument("2@(%rax)")?.location == .memory(USDTRegister(named: "rax")!, offset: 0))
        #expect(USDTArgument("4@$5")?.location == .constant(5))
        #expect(USDTArgument("-8@$-1234567890123")?.location == .constant(-1234567890123))
        #expect(USDTArgument("8@foo(%rip)")?.location == .unsupported("foo(%rip)"))
        #expect(USDTArgument("4@(%rax,%rdx,4)")?.location == .unsupported("(%rax,%rdx,4)"))
        #expect(USDTArgument("3@%eax") == nil)
        #expect(USDTArgument("%eax") == nil)
        #expect(USDTArgument("-@%eax") == nil)
        let list = USDTArgument.parseList("-4@%edi  8@-16(%rbp) 4@$5 bogus")
        #expect(list.count == 4)
        #expect(list[3].location == .unsupported("bogus"))
        #expect(edi.description == "4 signed bytes @ register %edi")
    }

    @Test("a real <sys/sdt.h> program: providers, names, sites on a nop, arguments, the semaphore")
    func realProgram() throws {
        let path = try buildProbeProgram()
        let bytes = try #require(readFileBytes(path))
        let elf = try ELFFile(bytes: bytes)
        let probes = try elf.usdtProbes()
        #expect(probes.map { "\($0.provider):\($0.name)" } == ["bpfkit_test:fire", "bpfkit_test:constant", "bpfkit_test:guarded"])
        let base = try #require(elf.section(named: ".stapsdt.base"))
        for probe in probes {
            // Each site is the single `nop` <sys/sdt.h> plants.
            #expect(bytes[Int(probe.fileOffset)] == 0x90, "\(probe.name) at 0x\(String(probe.fileOffset, radix: 16))")
            #expect(probe.linkBase == base.address)
        }
        let fire = probes[0]
        #expect(fire.semaphore == 0 && fire.semaphoreFileOffset == 0)
        #expect(fire.arguments.count == 4)
        #expect(fire.arguments.map(\.size) == [4, 4, 8, 8])
        #expect(fire.arguments.map(\.isSigned) == [true, true, true, false])
        #expect(fire.arguments[1].location == .constant(-42))
        if case .register = fire.arguments[0].location {} else { Issue.record("i is not in a register: \(fire.argumentText)") }
        if case .memory = fire.arguments[2].location {} else { Issue.record("the volatile long is not in memory: \(fire.argumentText)") }
        #expect(probes[1].arguments.map(\.location) == [.constant(5), .constant(77)])
        let guarded = probes[2]
        let semaphoreSection = try #require(elf.section(named: ".probes"))
        #expect(guarded.semaphore == semaphoreSection.address)
        #expect(guarded.semaphoreFileOffset == UInt64(semaphoreSection.offset))
        #expect(guarded.arguments.count == 1 && guarded.arguments[0].size == 4)
        // Reading only the headers and the note section finds the same.
        #expect(try ELFFile.usdtProbes(inFileAt: path) == probes)
    }

    @Test("a prelinked file: .stapsdt.base moved since link time moves every site by as much")
    func prelinkAdjustment() throws {
        let bytes = try #require(readFileBytes(try buildProbeProgram()))
        let elf = try ELFFile(bytes: bytes)
        let original = try elf.usdtProbes()[0]
        let note = try #require(elf.section(named: ".note.stapsdt"))
        // The first note: 12-byte header, "stapsdt\0", then site, base, semaphore.
        let baseField = note.offset + 12 + 8 + 8
        #expect(bytes.getInteger(at: baseField, as: UInt64.self) == original.linkBase)
        let moved = try ELFFile(bytes: patched(bytes, at: baseField, original.linkBase - 0x10)).usdtProbes()[0]
        #expect(moved.address == original.address + 0x10)
        #expect(moved.fileOffset == original.fileOffset + 0x10)
    }

    @Test("reading only the note section of a large binary (Debian's python3) finds what reading it all does")
    func partialRead() throws {
        let path = "/usr/bin/python3"
        let whole = try ELFFile(bytes: try #require(readFileBytes(path))).usdtProbes()
        #expect(whole.contains { $0.provider == "python" && $0.name == "gc__start" && $0.semaphore != 0 })
        #expect(try ELFFile.usdtProbes(inFileAt: path) == whole)
        #expect(throws: AttachError.self) { try ELFFile.usdtProbes(inFileAt: "/no/such/file") }
        #expect(throws: ELFError.self) { try ELFFile.usdtProbes(inFileAt: "/proc/self/status") }
    }

    @Test("a binary without <sys/sdt.h> probes has none")
    func noProbes() throws {
        let elf = try ELFFile(bytes: try #require(readFileBytes("/proc/self/exe")))
        #expect(try elf.usdtProbes().isEmpty)
    }

    @Test("mutated notes throw or parse, never trap")
    func mutatedNotes() throws {
        let bytes = try #require(readFileBytes(try buildProbeProgram()))
        let note = try #require(try ELFFile(bytes: bytes).section(named: ".note.stapsdt"))
        var random = SplitMix64(seed: 0x5d7)
        for _ in 0..<2000 {
            var copy = bytes
            let mutated = mutate(Array(bytes[note.offset..<(note.offset + note.size)]), using: &random)
            copy.replaceSubrange(note.offset..<(note.offset + min(mutated.count, note.size)), with: mutated.prefix(note.size))
            guard let elf = try? ELFFile(bytes: copy) else { continue }
            _ = try? elf.usdtProbes()
        }
    }
}
