/// A program's final instruction stream, with the references the loader still has to fill
/// in with kernel objects (map descriptors), and the BTF.ext records moved to match.
struct LinkedProgram: Sendable {
    enum MapReference: Sendable {
        /// `ld_imm64` of a map pointer.
        case map(String)
        /// `ld_imm64` of a pointer into a global data map's value.
        case data(map: String, offset: Int)
    }

    var instructions: [Instruction]
    /// By instruction index of the `ld_imm64`.
    var mapReferences: [(index: Int, reference: MapReference)]
    /// `bpf_func_info` records: instruction index and FUNC type id.
    var functionInfos: [BTFExt.FunctionInfo]
    /// `bpf_line_info` records with instruction indexes.
    var lineInfos: [BTFExt.LineInfo]
    /// `bpf_core_relo` records with byte offsets in the final program.
    var coreRelocations: [BTFExt.CoreRelocation]
    /// Calls to kernel functions (`extern … __ksym`), by instruction index: the loader
    /// fills in each one's BTF id in the running kernel.
    var kernelFunctionCalls: [(index: Int, name: String)] = []
}

extension ObjectSpec {
    /// Builds a program's final instructions: its own function, then every `.text`
    /// function it reaches (through calls or function pointers), each once, with call
    /// offsets rewritten for the new layout. Only reachable functions are appended: the
    /// kernel wants one func_info record per subprogram, no more.
    func link(_ program: ProgramSpec) throws(ObjectError) -> LinkedProgram {
        var linked = LinkedProgram(instructions: [], mapReferences: [], functionInfos: [], lineInfos: [], coreRelocations: [])
        var placed: [FunctionKey: Int] = [:]
        var order: [FunctionKey] = []

        func place(_ key: FunctionKey) throws(ObjectError) -> Int {
            if let start = placed[key] { return start }
            guard let function = functions[key] else {
                throw ObjectError("program \(program.name): call to section \(key.section) offset \(key.offset), which starts no function")
            }
            let start = linked.instructions.count
            placed[key] = start
            order.append(key)
            linked.instructions += function.instructions
            return start
        }

        _ = try place(program.entry)
        var next = 0
        while next < order.count {
            let function = functions[order[next]]!
            let base = placed[function.key]!
            next += 1
            for index in function.instructions.indices {
                let at = base + index
                if let target = function.relocations[index] {
                    switch target {
                    case .map(let name):
                        linked.mapReferences.append((at, .map(name)))
                    case .data(let map, let offset):
                        guard at + 1 < linked.instructions.count else { throw ObjectError("program \(program.name): truncated ld_imm64") }
                        linked.mapReferences.append((at, .data(map: map, offset: offset)))
                    case .call(let key):
                        linked.instructions[at].immediate = Int32(try place(key) - (at + 1))
                    case .functionPointer(let key):
                        guard at + 1 < linked.instructions.count else { throw ObjectError("program \(program.name): truncated ld_imm64") }
                        linked.instructions[at].source = 4  // BPF_PSEUDO_FUNC
                        linked.instructions[at].immediate = Int32(try place(key) - (at + 1))
                        linked.instructions[at + 1].immediate = 0
                    case .external(let name):
                        guard function.instructions[index].isCall else {
                            throw ObjectError("program \(program.name): extern variable \(name) is not supported yet")
                        }
                        linked.kernelFunctionCalls.append((at, name))
                    }
                } else if function.instructions[index].isFunctionCall {
                    // A call clang resolved itself: relative to this function's section.
                    let target = function.key.offset + (index + 1 + Int(function.instructions[index].immediate)) * 8
                    let key = FunctionKey(section: function.key.section, offset: target)
                    linked.instructions[at].immediate = Int32(try place(key) - (at + 1))
                }
            }
        }

        // Move the .BTF.ext records of each placed function to its new position.
        for key in order {
            let function = functions[key]!
            let base = placed[key]!
            let range = function.key.offset..<(function.key.offset + function.instructions.count * 8)
            for var info in btfExt.functionInfos[function.sectionName] ?? [] where range.contains(Int(info.instructionOffset)) {
                info.instructionOffset = UInt32(base + (Int(info.instructionOffset) - range.lowerBound) / 8)
                linked.functionInfos.append(info)
            }
            for var info in btfExt.lineInfos[function.sectionName] ?? [] where range.contains(Int(info.instructionOffset)) {
                info.instructionOffset = UInt32(base + (Int(info.instructionOffset) - range.lowerBound) / 8)
                linked.lineInfos.append(info)
            }
            for var relocation in btfExt.coreRelocations[function.sectionName] ?? []
            where range.contains(Int(relocation.instructionOffset)) {
                relocation.instructionOffset = UInt32(base * 8 + Int(relocation.instructionOffset) - range.lowerBound)
                linked.coreRelocations.append(relocation)
            }
        }
        return linked
    }
}
