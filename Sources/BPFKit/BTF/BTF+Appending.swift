extension BTF {
    /// A copy with `strings` added to the string section and the types `makeTypes` returns
    /// (whole types as little-endian words, given the new strings' offsets) added after the
    /// last type, so existing ids and string offsets stay valid.
    func appending(strings: [String], types makeTypes: ([UInt32]) -> [UInt32]) throws(BTFError) -> BTF {
        var newStrings: [UInt8] = []
        var stringOffsets: [UInt32] = []
        for string in strings {
            stringOffsets.append(UInt32(stringsEnd - stringsStart + newStrings.count))
            newStrings += Array(string.utf8) + [0]
        }
        var newTypes: [UInt8] = []
        for word in makeTypes(stringOffsets) { withUnsafeBytes(of: word.littleEndian) { newTypes += $0 } }
        let typeLength = UInt32(typesEnd - typesStart + newTypes.count)
        let stringLength = UInt32(stringsEnd - stringsStart + newStrings.count)
        var merged: [UInt8] = [0x9f, 0xeb, 1, 0]
        for word in [UInt32(24), 0, typeLength, typeLength, stringLength] {
            withUnsafeBytes(of: word.littleEndian) { merged += $0 }
        }
        merged += bytes[typesStart..<typesEnd]
        merged += newTypes
        merged += bytes[stringsStart..<stringsEnd]
        merged += newStrings
        return try BTF(bytes: merged)
    }
}
