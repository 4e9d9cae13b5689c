// Where an entry uprobe moves on x86-64: past instructions that only set flags (or a
// scratch register) to the first one the kernel emulates; never past anything else.
import Testing
@testable import BPFKit

@Suite("Entry uprobe placement")
struct UprobeEntrySiteTests {
    @Test("glibc's allocator entries", arguments: [
        // free: test %rdi,%rdi; je → the je
        ([0x48, 0x85, 0xff, 0x0f, 0x84, 0xbf, 0x00, 0x00, 0x00, 0x55], 3),
        // malloc: push %r12 → already emulated
        ([0x41, 0x54, 0x55, 0x53], 0),
        // posix_memalign: cmpb $0,disp32(%rip); push %r12
        ([0x80, 0x3d, 0x01, 0x02, 0x14, 0x00, 0x00, 0x41, 0x54], 7),
        // aligned_alloc: cmpb $0,disp32(%rip); je
        ([0x80, 0x3d, 0x71, 0x0e, 0x14, 0x00, 0x00, 0x74, 0x07], 7),
        // mmap: mov %ecx,%r10d; test $0xfff,%r9d; jne
        ([0x41, 0x89, 0xca, 0x41, 0xf7, 0xc1, 0xff, 0x0f, 0x00, 0x00, 0x75, 0x14], 10),
        // munmap: mov $0xb,%eax; syscall → nothing to gain
        ([0xb8, 0x0b, 0x00, 0x00, 0x00, 0x0f, 0x05], 0),
        // endbr64; push %rbp
        ([0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5], 4),
    ] as [([UInt8], Int)])
    func allocatorEntries(code: [UInt8], expected: Int) {
        #expect(UprobeEntrySite.cheapOffset(code: code) == expected)
    }

    @Test("never moves past a write to an argument register, the stack pointer or memory")
    func staysPut() {
        #expect(UprobeEntrySite.cheapOffset(code: [0x48, 0x89, 0xfb, 0x55]) == 0)   // mov %rdi,%rbx; push
        #expect(UprobeEntrySite.cheapOffset(code: [0x48, 0x89, 0xc7, 0x55]) == 0)   // mov %rax,%rdi; push
        #expect(UprobeEntrySite.cheapOffset(code: [0x48, 0x83, 0xec, 0x18, 0x55]) == 0)  // sub $0x18,%rsp; push
        #expect(UprobeEntrySite.cheapOffset(code: [0x48, 0x89, 0x07, 0x55]) == 0)   // mov %rax,(%rdi); push
        #expect(UprobeEntrySite.cheapOffset(code: [0x48, 0x85, 0xff]) == 0)          // test, then nothing
        #expect(UprobeEntrySite.cheapOffset(code: []) == 0)
    }

    @Test("random bytes never trap and never move the probe outside them")
    func randomBytes() {
        var random = SplitMix64(seed: 5)
        for _ in 0..<20_000 {
            let code = (0..<Int.random(in: 0...20, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            let offset = UprobeEntrySite.cheapOffset(code: code)
            #expect(offset == 0 || offset < code.count)
        }
    }
}
