// ELF and object-spec parsing of the fixture objects: no system calls, no kernel.
import Testing
@testable import BPFKit

@Suite("Object spec parsing")
struct ObjectSpecTests {
    /// The programs each fixture must yield: name → section name.
    static let expectedPrograms: [Fixture: [String: String]] = [
        .loader: ["on_getppid": "tracepoint/syscalls/sys_enter_getppid"],
        .calls: ["calls_both": "tracepoint/syscalls/sys_enter_getppid", "calls_global": "tp/syscalls/sys_enter_getppid"],
        .invalid: ["null_deref": "tracepoint/syscalls/sys_enter_getppid"],
        .sections: [
            "on_tracepoint": "tracepoint/sched/sched_process_exec",
            "on_tp": "tp/syscalls/sys_enter_getppid",
            "on_raw_tp": "raw_tp/sched_switch",
            "on_raw_tracepoint": "raw_tracepoint/sys_enter",
            "on_tp_btf": "tp_btf/sched_switch",
            "on_fentry": "fentry/do_nanosleep",
            "on_fexit": "fexit/do_nanosleep",
            "on_kprobe": "kprobe/do_sys_openat2+0x10",
            "on_kretprobe": "kretprobe/do_sys_openat2",
            "on_uprobe": "uprobe//bin/true:main+4",
            "on_uretprobe": "uretprobe//bin/true:main",
            "on_perf_event": "perf_event",
            "on_unknown": "nonsense/section",
        ],
    ]

    @Test("ELF sections of every fixture", arguments: Fixture.allCases)
    func elfSections(fixture: Fixture) throws {
        let elf = try ELFFile(bytes: fixture.bytes)
        #expect(elf.machine == .bpf)
        #expect(elf.fileType == 1)
        #expect(elf.programHeaders.isEmpty)
        let names = Set(elf.sections.map(\.name))
        for required in [".text", ".symtab", ".strtab", ".BTF", ".BTF.ext", "license"] {
            #expect(names.contains(required), "\(fixture) lacks \(required)")
        }
        for section in Self.expectedPrograms[fixture]!.values {
            let found = try #require(elf.section(named: section))
            #expect(found.isExecutable)
            #expect(found.size > 0 && found.size % 8 == 0)
        }
        // Sections are indexed in order, and every symbol names a real section (or none).
        #expect(elf.sections.map(\.index) == Array(elf.sections.indices))
        let symbols = try elf.symbols()
        #expect(!symbols.isEmpty)
        #expect(symbols.allSatisfy { $0.sectionIndex < elf.sections.count || $0.sectionIndex >= 0xff00 })
        // No relocation points outside its section or at a missing symbol.
        for section in elf.sections where section.type == ELFFile.Section.rel {
            let target = elf.sections[Int(section.info)]
            for relocation in try elf.relocations(in: section) {
                #expect(relocation.offset < UInt64(target.size))
                #expect(relocation.symbolIndex < symbols.count)
            }
        }
    }

    @Test("programs, licence and BTF of every fixture", arguments: Fixture.allCases)
    func programs(fixture: Fixture) throws {
        let spec = try fixture.spec()
        #expect(spec.name == fixture.rawValue)
        #expect(spec.license == "GPL")
        #expect(spec.btf != nil)
        let expected = Self.expectedPrograms[fixture]!
        #expect(Dictionary(uniqueKeysWithValues: spec.programs.map { ($0.name, $0.sectionName) }) == expected)
        for program in spec.programs {
            #expect(program.attachPoint == AttachPoint(sectionName: program.sectionName))
            #expect(program.type == program.attachPoint?.programType)
            // Every program links on its own: entry first, with one func_info per function.
            let linked = try spec.link(program)
            #expect(!linked.instructions.isEmpty)
            #expect(linked.functionInfos.first?.instructionOffset == 0)
            #expect(linked.instructions.contains(.exit))
        }
    }

    @Test("attach points and program types of the sections fixture")
    func sectionFixtureAttachPoints() throws {
        let spec = try Fixture.sections.spec()
        func program(_ name: String) throws -> ProgramSpec { try #require(spec.program(named: name)) }

        #expect(try program("on_tracepoint").attachPoint == .tracepoint(category: "sched", name: "sched_process_exec"))
        #expect(try program("on_tracepoint").type == .tracepoint)
        #expect(try program("on_tp").attachPoint == .tracepoint(category: "syscalls", name: "sys_enter_getppid"))
        #expect(try program("on_raw_tp").attachPoint == .rawTracepoint(name: "sched_switch"))
        #expect(try program("on_raw_tp").type == .rawTracepoint)
        #expect(try program("on_raw_tracepoint").attachPoint == .rawTracepoint(name: "sys_enter"))
        #expect(try program("on_tp_btf").attachPoint == .btfTracepoint(name: "sched_switch"))
        #expect(try program("on_tp_btf").type == .tracing)
        #expect(try program("on_tp_btf").expectedAttachType == .traceRawTracepoint)
        #expect(try program("on_fentry").attachPoint == .fentry(function: "do_nanosleep"))
        #expect(try program("on_fentry").expectedAttachType == .traceFentry)
        #expect(try program("on_fexit").attachPoint == .fexit(function: "do_nanosleep"))
        #expect(try program("on_fexit").expectedAttachType == .traceFexit)
        #expect(try program("on_kprobe").attachPoint == .kprobe(function: "do_sys_openat2", offset: 0x10))
        #expect(try program("on_kprobe").type == .kprobe)
        #expect(try program("on_kretprobe").attachPoint == .kretprobe(function: "do_sys_openat2"))
        #expect(try program("on_uprobe").attachPoint == .uprobe(path: "/bin/true", function: "main", offset: 4))
        #expect(try program("on_uprobe").type == .kprobe)
        #expect(try program("on_uretprobe").attachPoint == .uretprobe(path: "/bin/true", function: "main", offset: 0))
        #expect(try program("on_perf_event").attachPoint == .perfEvent)
        #expect(try program("on_perf_event").type == .perfEvent)
        #expect(try program("on_unknown").attachPoint == nil)
        #expect(try program("on_unknown").type == nil)
        #expect(try program("on_unknown").expectedAttachType == AttachType.none)
        #expect(try program("on_tracepoint").expectedAttachType == AttachType.none)
    }

    @Test("BTF-defined maps decode type, sizes, entries and flags")
    func btfMaps() throws {
        let spec = try Fixture.loader.spec()
        let calls = try #require(spec.map(named: "calls"))
        #expect(calls.type == .hash)
        #expect(calls.keySize == 4)
        #expect(calls.valueSize == 8)
        #expect(calls.maxEntries == 64)
        #expect(calls.flags == 1)  // BPF_F_NO_PREALLOC
        #expect(calls.btfKeyTypeID != 0 && calls.btfValueTypeID != 0)
        #expect(calls.contents == nil && calls.dataSection == nil && !calls.freeze)

        let perCPU = try #require(spec.map(named: "percpu_hits"))
        #expect(perCPU.type == .perCPUArray)
        #expect(perCPU.type.isPerCPU)
        #expect((perCPU.keySize, perCPU.valueSize, perCPU.maxEntries, perCPU.flags) == (4, 4, 2, 0))

        let events = try #require(spec.map(named: "events"))
        #expect(events.type == .ringBuffer)
        #expect((events.keySize, events.valueSize, events.maxEntries) == (0, 0, 1 << 14))
        #expect(events.btfKeyTypeID == 0 && events.btfValueTypeID == 0)

        let perf = try #require(spec.map(named: "perf_events"))
        #expect(perf.type == .perfEventArray)
        #expect((perf.keySize, perf.valueSize, perf.maxEntries) == (4, 4, 0))
        // The kernel refuses BTF types for perf event arrays: none are passed.
        #expect(perf.btfKeyTypeID == 0 && perf.btfValueTypeID == 0)

        let btf = try #require(spec.btf)
        #expect(try btf.name(of: calls.btfKeyTypeID) == "u32")
        #expect(try btf.name(of: calls.btfValueTypeID) == "u64")
    }

    @Test("global data sections become maps: .rodata frozen, .bss zeroed, .data initialised")
    func globalDataMaps() throws {
        let spec = try Fixture.loader.spec()
        let dataMaps = spec.maps.filter { $0.dataSection != nil }
        #expect(Set(dataMaps.compactMap(\.dataSection)) == [".rodata", ".bss", ".data"])

        let rodata = try #require(dataMaps.first { $0.dataSection == ".rodata" })
        #expect(rodata.name == "loader.rodata")
        #expect(rodata.type == .array)
        #expect((rodata.keySize, rodata.valueSize, rodata.maxEntries) == (4, 8, 1))
        #expect(rodata.freeze)
        #expect(rodata.flags == 0x80)  // BPF_F_RDONLY_PROG
        #expect(rodata.contents == [UInt8](repeating: 0, count: 8))
        #expect(rodata.btfValueTypeID == spec.btf?.typeID(named: ".rodata", kind: .dataSection))

        let bss = try #require(dataMaps.first { $0.dataSection == ".bss" })
        #expect(bss.name == "loader.bss")
        #expect(!bss.freeze && bss.flags == 0)
        #expect(bss.contents == [UInt8](repeating: 0, count: 8))

        let data = try #require(dataMaps.first { $0.dataSection == ".data" })
        #expect(data.name == "loader.data")
        #expect(!data.freeze && data.flags == 0)
        let contents = try #require(data.contents)
        #expect(contents.count == 12)
        #expect(contents.load(UInt64.self, at: 0) == 0x1122_3344_5566_7788)
        #expect(contents.load(UInt32.self, at: 8) == 7)

        // The BTF DATASECs now carry the sizes and offsets clang left at zero.
        let btf = try #require(spec.btf)
        let dataSection = try #require(btf.typeID(named: ".data", kind: .dataSection))
        #expect(try btf.sizeOrType(of: dataSection) == 12)
        let variables = try btf.sectionVariables(of: dataSection)
        #expect(variables.map(\.offset) == [0, 8])
        #expect(variables.map(\.size) == [8, 4])
        #expect(try variables.map { try btf.name(of: $0.type) } == ["data_marker", "data_small"])
    }

    @Test("setGlobal writes the value and refuses wrong sizes and unknown names")
    func setGlobal() throws {
        var spec = try Fixture.loader.spec()
        try spec.setGlobal("target_tid", to: UInt32(0xdead_beef))
        try spec.setGlobal("target_pid", to: UInt32(1234))
        let rodata = try #require(spec.maps.first { $0.dataSection == ".rodata" }?.contents)
        #expect(rodata.load(UInt32.self, at: 0) == 1234)
        #expect(rodata.load(UInt32.self, at: 4) == 0xdead_beef)

        try spec.setGlobal("data_marker", to: UInt64(42))
        let data = try #require(spec.maps.first { $0.dataSection == ".data" }?.contents)
        #expect(data.load(UInt64.self, at: 0) == 42)
        #expect(data.load(UInt32.self, at: 8) == 7)

        #expect(throws: ObjectError.self) { try spec.setGlobal("target_pid", to: UInt64(1)) }
        #expect(throws: ObjectError.self) { try spec.setGlobal("target_pid", to: UInt8(1)) }
        #expect(throws: ObjectError.self) { try spec.setGlobal("no_such_variable", to: UInt32(1)) }
        // Maps are not global variables.
        #expect(throws: ObjectError.self) { try spec.setGlobal("calls", to: UInt32(1)) }
        // A refused write leaves the contents alone.
        #expect(spec.maps.first { $0.dataSection == ".rodata" }?.contents == rodata)
    }

    @Test("bpf-to-bpf calls into .text are linked with each reachable function once")
    func bpfToBPFCalls() throws {
        let spec = try Fixture.calls.spec()
        let btf = try #require(spec.btf)

        func check(_ name: String, functions expected: [String]) throws {
            let program = try #require(spec.program(named: name))
            let linked = try spec.link(program)
            // One func_info per subprogram, in placement order, entry first.
            #expect(linked.functionInfos.count == expected.count)
            #expect(try linked.functionInfos.map { try btf.name(of: $0.typeID) } == expected)
            #expect(try linked.functionInfos.allSatisfy { try btf.kind(of: $0.typeID) == .function })
            let starts = linked.functionInfos.map { Int($0.instructionOffset) }
            #expect(starts == starts.sorted() && Set(starts).count == starts.count)
            // Every call lands on the first instruction of a placed function.
            let calls = linked.instructions.indices.filter { linked.instructions[$0].isFunctionCall }
            #expect(!calls.isEmpty)
            for index in calls {
                let target = index + 1 + Int(linked.instructions[index].immediate)
                #expect(starts.contains(target), "call at \(index) lands on \(target), not a function start")
            }
            // Line info is moved along with the functions and stays in range and sorted.
            #expect(!linked.lineInfos.isEmpty)
            #expect(linked.lineInfos.allSatisfy { Int($0.instructionOffset) < linked.instructions.count })
            #expect(linked.lineInfos.map(\.instructionOffset) == linked.lineInfos.map(\.instructionOffset).sorted())
            // Global data references are left for the loader: target_tid in .rodata, the result in .bss.
            let dataMaps = linked.mapReferences.compactMap { reference -> String? in
                if case .data(let map, _) = reference.reference { return map }
                return nil
            }
            #expect(Set(dataMaps) == ["calls.rodata", "calls.bss"])
        }
        // calls_both reaches square_plus_one (through a relocation against .text), which calls
        // square (a call clang resolved itself), and triple (a relocation against its symbol).
        try check("calls_both", functions: ["calls_both", "square_plus_one", "triple", "square"])
        try check("calls_global", functions: ["calls_global", "triple"])
        // .text functions are not programs.
        #expect(spec.programs.count == 2)
    }

    @Test("func_info count equals the number of subprograms for every program", arguments: Fixture.allCases)
    func functionInfoCount(fixture: Fixture) throws {
        let spec = try fixture.spec()
        for program in spec.programs {
            let linked = try spec.link(program)
            // Subprograms = the entry plus distinct call targets.
            var starts: Set<Int> = [0]
            for (index, instruction) in linked.instructions.enumerated() where instruction.isFunctionCall {
                starts.insert(index + 1 + Int(instruction.immediate))
            }
            #expect(linked.functionInfos.count == starts.count, "\(program.name)")
        }
    }

    @Test("kernel map names fit 15 characters of [A-Za-z0-9_.]")
    func kernelNames() {
        let cases: [(String, String, String)] = [
            ("loader", ".rodata", "loader.rodata"),
            ("execsnoop", ".rodata", "execsnoo.rodata"),
            ("a-b c", ".bss", "a_b_c.bss"),
            ("x", ".rodata.str1.1", "x.rodata.str1.1"),
            ("object", ".data.with_a_long_name", ".data.with_a_lo"),
        ]
        for (object, section, expected) in cases {
            let name = ObjectSpec.kernelName(object: object, section: section)
            #expect(name == expected)
            #expect(name.count <= 15)
            #expect(name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." })
        }
    }

    @Test("the spec is plain data: two parses of one object agree")
    func deterministic() throws {
        let first = try Fixture.loader.spec(), second = try Fixture.loader.spec()
        #expect(first.maps.map(\.name) == second.maps.map(\.name))
        #expect(first.btf?.bytes == second.btf?.bytes)
        #expect(try first.link(first.programs[0]).instructions == second.link(second.programs[0]).instructions)
    }
}

@Suite("AttachPoint(sectionName:)")
struct AttachPointTests {
    @Test("documented section forms", arguments: [
        ("tracepoint/syscalls/sys_enter_openat", AttachPoint.tracepoint(category: "syscalls", name: "sys_enter_openat")),
        ("tp/sched/sched_switch", .tracepoint(category: "sched", name: "sched_switch")),
        ("tracepoint/a/b/c", .tracepoint(category: "a", name: "b/c")),
        ("raw_tp/sched_switch", .rawTracepoint(name: "sched_switch")),
        ("raw_tracepoint/sys_enter", .rawTracepoint(name: "sys_enter")),
        ("tp_btf/sched_wakeup", .btfTracepoint(name: "sched_wakeup")),
        ("fentry/do_unlinkat", .fentry(function: "do_unlinkat")),
        ("fexit/do_unlinkat", .fexit(function: "do_unlinkat")),
        ("kprobe/f+0x10", .kprobe(function: "f", offset: 0x10)),
        ("kprobe/f+16", .kprobe(function: "f", offset: 16)),
        ("kprobe/vfs_read", .kprobe(function: "vfs_read", offset: 0)),
        ("kprobe/f+zz", .kprobe(function: "f+zz", offset: 0)),
        ("kretprobe/vfs_read", .kretprobe(function: "vfs_read")),
        ("uprobe/path:func+4", .uprobe(path: "path", function: "func", offset: 4)),
        ("uprobe//usr/lib/libc.so.6:malloc", .uprobe(path: "/usr/lib/libc.so.6", function: "malloc", offset: 0)),
        ("uprobe//a:b/lib.so:fn+0x20", .uprobe(path: "/a:b/lib.so", function: "fn", offset: 0x20)),
        ("uprobe/bin:", .uprobe(path: "bin", function: nil, offset: 0)),
        ("uprobe", .uprobe(path: nil, function: nil, offset: 0)),
        ("uretprobe", .uretprobe(path: nil, function: nil, offset: 0)),
        ("uretprobe//bin/bash:readline", .uretprobe(path: "/bin/bash", function: "readline", offset: 0)),
        ("perf_event", .perfEvent),
    ] as [(String, AttachPoint)])
    func parses(section: String, expected: AttachPoint) {
        #expect(AttachPoint(sectionName: section) == expected)
    }

    @Test("unknown or incomplete section names", arguments: [
        "", "xdp", "socket", "nonsense/section", "tracepoint", "tracepoint/", "tracepoint/syscalls",
        "tracepoint/syscalls/", "tp//x", "raw_tp", "raw_tp/", "tp_btf", "fentry", "fentry/", "fexit/",
        "kprobe", "kprobe/", "kretprobe/", "uprobe/no_colon", "perf_eventx", ".text",
    ])
    func rejects(section: String) {
        #expect(AttachPoint(sectionName: section) == nil)
    }

    @Test("program and expected attach types")
    func types() throws {
        let table: [(String, ProgramType, AttachType)] = [
            ("tracepoint/a/b", .tracepoint, .none),
            ("raw_tp/x", .rawTracepoint, .none),
            ("tp_btf/x", .tracing, .traceRawTracepoint),
            ("fentry/x", .tracing, .traceFentry),
            ("fexit/x", .tracing, .traceFexit),
            ("kprobe/x", .kprobe, .none),
            ("kretprobe/x", .kprobe, .none),
            ("uprobe", .kprobe, .none),
            ("uretprobe", .kprobe, .none),
            ("perf_event", .perfEvent, .none),
        ]
        for (section, type, attachType) in table {
            let point = try #require(AttachPoint(sectionName: section))
            #expect(point.programType == type, "\(section)")
            #expect(point.expectedAttachType == attachType, "\(section)")
        }
    }
}
