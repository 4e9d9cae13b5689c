#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// User-level statically defined tracing (USDT) probes: the `NT_STAPSDT` notes `<sys/sdt.h>`
/// leaves in `.note.stapsdt`, one per probe site. Each holds the site's address, the link-time
/// address of `.stapsdt.base` (to correct for prelinking), the semaphore's address (0: none)
/// and three strings: provider, name and the argument spec (`-4@%edi 8@-16(%rbp) 4@$5`).
///
/// ```swift
/// let elf = try ELFFile(bytes: readFileBytes("/usr/bin/python3")!)
/// for probe in try elf.usdtProbes() { print(probe.provider, probe.name, probe.arguments) }
/// ```
extension ELFFile {
    /// One probe site.
    public struct USDTProbe: Sendable, Equatable {
        public var provider: String
        public var name: String
        /// The site's virtual address, corrected by `.stapsdt.base`'s actual address.
        public var address: UInt64
        /// The site's file offset, where a uprobe goes.
        public var fileOffset: UInt64
        /// `.stapsdt.base` as the note recorded it at link time.
        public var linkBase: UInt64
        /// The 16-bit semaphore's virtual address, 0 when the probe has none.
        public var semaphore: UInt64
        /// The semaphore's file offset (the uprobe PMU's `ref_ctr_offset`), 0 when none.
        public var semaphoreFileOffset: UInt64
        /// The argument spec as written in the note.
        public var argumentText: String
        public var arguments: [USDTArgument]
    }

    /// The USDT probes of the ELF file at `path`, reading only its headers and
    /// `.note.stapsdt`, not the whole file (libpython or node are tens of megabytes).
    /// Errors: ``AttachError`` when the file cannot be opened, ``ELFError`` when it is malformed.
    public static func usdtProbes(inFileAt path: String) throws -> [USDTProbe] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw AttachError("cannot open \(path): \(errnoDescription(errno))") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_size >= 0 else {
            throw AttachError("cannot stat \(path): \(errnoDescription(errno))")
        }
        let elf: ELFFile
        do {
            elf = try ELFFile(fileSize: UInt64(status.st_size), loadingSections: { name, type in
                name == ".note.stapsdt" && type == Section.note
            }, read: { offset, buffer in
                var done = 0
                while done < buffer.count {
                    let count = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
                    if count <= 0 { return false }
                    done += count
                }
                return true
            })
        } catch {
            throw ELFError("\(path): \(error.message)")
        }
        do { return try elf.usdtProbes() } catch { throw ELFError("\(path): \(error.message)") }
    }

    /// NT_STAPSDT.
    public static let stapsdtNoteType: UInt32 = 3

    /// Every USDT probe site of the file, in note order. A note too short for its three
    /// addresses and strings is an error; an argument the parser does not know is kept as
    /// ``USDTArgument/Location/unsupported(_:)``.
    public func usdtProbes() throws(ELFError) -> [USDTProbe] {
        let notes = sections.filter { $0.name == ".note.stapsdt" && $0.type == Section.note }
            .flatMap { Self.parseNotes(bytes, from: $0.offset, length: $0.size, alignment: 4) }
            .filter { $0.name == "stapsdt" && $0.type == Self.stapsdtNoteType }
        let actualBase = section(named: ".stapsdt.base")?.address
        var probes: [USDTProbe] = []
        for note in notes {
            let descriptor = note.descriptor
            guard let site = descriptor.getInteger(at: 0, as: UInt64.self),
                  let linkBase = descriptor.getInteger(at: 8, as: UInt64.self),
                  let semaphore = descriptor.getInteger(at: 16, as: UInt64.self)
            else { throw ELFError("USDT note too short (\(descriptor.count) bytes)") }
            var strings: [String] = []
            var position = 24
            while strings.count < 3 {
                guard position < descriptor.count, let end = descriptor[position...].firstIndex(of: 0) else {
                    throw ELFError("USDT note at 0x\(String(site, radix: 16)) has unterminated strings")
                }
                strings.append(String(decoding: descriptor[position..<end], as: UTF8.self))
                position = end + 1
            }
            // Prelinking moved the file after link time: move the site by as much as the base moved.
            var address = site
            if let actualBase, linkBase != 0 { address = site &+ actualBase &- linkBase }
            let fileOffset: UInt64
            let semaphoreOffset: UInt64
            do {
                fileOffset = try UprobeTarget.fileOffset(of: address, in: self, path: "the file")
                semaphoreOffset = semaphore == 0 ? 0 : try UprobeTarget.fileOffset(of: semaphore, in: self, path: "the file")
            } catch {
                throw ELFError("USDT \(strings[0]):\(strings[1]): \(error)")
            }
            probes.append(USDTProbe(
                provider: strings[0], name: strings[1], address: address, fileOffset: fileOffset, linkBase: linkBase,
                semaphore: semaphore, semaphoreFileOffset: semaphoreOffset, argumentText: strings[2],
                arguments: USDTArgument.parseList(strings[2])))
        }
        return probes
    }
}
