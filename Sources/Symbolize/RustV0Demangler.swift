/// Rust's v0 mangling (`_R…`, RFC 2603), decoded into the recommended readable form:
/// paths, inherent and trait impls (`<T as Trait>`), generic arguments (`::<T>` in value
/// paths), closures and shims (`{closure#0}`), basic, reference, pointer, array, slice,
/// tuple, `fn` and `dyn` types, integer/bool/char constants, lifetimes with binders,
/// Punycode identifiers and back references. Crate disambiguators, the instantiating crate
/// and vendor suffixes (`.llvm.…`) are not shown.
///
/// Anything unexpected (an unknown tag, a back reference that does not point backwards,
/// nesting deeper than 256, output beyond 64 KiB) makes the whole decode fail, and callers
/// show the raw symbol.
///
/// ```swift
/// RustV0Demangler.demangle("_RNvMsr_NtCs3ssYzQotkvD_3std4pathNtB5_7PathBuf3newCs15kBYyAo9fc_7mycrate")
/// // "<std::path::PathBuf>::new"
/// RustV0Demangler.demangle("_RNCNvCsgStHSCytQ6I_7mycrate4main0B3_")   // "mycrate::main::{closure#0}"
/// ```
struct RustV0Demangler {
    private struct Failure: Error {}

    /// The symbol after `_R`: back references count from here.
    private let input: [UInt8]
    private var position = 0
    private var output: [UInt8] = []
    /// Zero while parsing parts that are not shown (impl paths, the instantiating crate).
    private var printing = true
    private var depth = 0
    /// Lifetimes bound by the enclosing `for<…>` binders.
    private var boundLifetimes = 0

    private static let maximumDepth = 256
    private static let maximumOutput = 1 << 16

    private init(input: [UInt8]) { self.input = input }

    /// The readable form of a `_R` symbol, nil when it is not a well-formed v0 name.
    static func demangle(_ symbol: String) -> String? {
        let bytes = Array(symbol.utf8)
        guard bytes.count > 2, bytes[0] == UInt8(ascii: "_"), bytes[1] == UInt8(ascii: "R") else { return nil }
        var demangler = RustV0Demangler(input: Array(bytes[2...]))
        do {
            try demangler.symbol()
        } catch {
            return nil
        }
        return String(decoding: demangler.output, as: UTF8.self)
    }

    // MARK: - Grammar

    private mutating func symbol() throws(Failure) {
        if let byte = peek(), isDigit(byte) { _ = try decimalNumber() }  // encoding version
        try path(inValue: true)
        // Optional instantiating crate (a path), then an optional vendor suffix.
        if let byte = peek(), isUpper(byte) {
            try hidden { (demangler: inout RustV0Demangler) throws(Failure) in try demangler.path(inValue: false) }
        }
        if let byte = peek(), byte == UInt8(ascii: ".") || byte == UInt8(ascii: "$") { position = input.count }
        guard position == input.count else { throw Failure() }
    }

    /// Parses a path; `inValue` paths print generic arguments as `::<…>`. With `leaveOpen`,
    /// generic arguments are left without their closing `>` (for `dyn Trait<Assoc = T>`), and
    /// the result says whether they were.
    @discardableResult
    private mutating func path(inValue: Bool, leaveOpen: Bool = false) throws(Failure) -> Bool {
        try enter()
        defer { depth -= 1 }
        switch try next() {
        case UInt8(ascii: "C"):
            let identifier = try identifier()
            emit(identifier.name)
        case UInt8(ascii: "M"):
            try implPath()
            emit("<")
            try type()
            emit(">")
        case UInt8(ascii: "X"):
            try implPath()
            emit("<")
            try type()
            emit(" as ")
            try path(inValue: false)
            emit(">")
        case UInt8(ascii: "Y"):
            emit("<")
            try type()
            emit(" as ")
            try path(inValue: false)
            emit(">")
        case UInt8(ascii: "N"):
            let namespace = try next()
            guard isUpper(namespace) || isLower(namespace) else { throw Failure() }
            try path(inValue: inValue)
            let identifier = try identifier()
            if isUpper(namespace) {
                let kind = namespace == UInt8(ascii: "C") ? "closure" : namespace == UInt8(ascii: "S") ? "shim" : String(UnicodeScalar(namespace))
                emit("::{" + kind + (identifier.name.isEmpty ? "" : ":" + identifier.name) + "#\(identifier.disambiguator)}")
            } else if !identifier.name.isEmpty {
                emit("::" + identifier.name)
            }
        case UInt8(ascii: "I"):
            try path(inValue: inValue)
            emit(inValue ? "::<" : "<")
            var first = true
            while try !eat(UInt8(ascii: "E")) {
                if !first { emit(", ") }
                first = false
                try genericArgument()
            }
            if leaveOpen { return true }
            emit(">")
        case UInt8(ascii: "B"):
            var open = false
            try backref { (demangler: inout RustV0Demangler) throws(Failure) in
                open = try demangler.path(inValue: inValue, leaveOpen: leaveOpen)
            }
            return open
        default:
            throw Failure()
        }
        return false
    }

    /// `impl-path`: an optional disambiguator and the path of the impl's parent, not shown.
    private mutating func implPath() throws(Failure) {
        _ = try disambiguator()
        try hidden { (demangler: inout RustV0Demangler) throws(Failure) in try demangler.path(inValue: false) }
    }

    private mutating func genericArgument() throws(Failure) {
        if try eat(UInt8(ascii: "L")) {
            try lifetime(try base62(), elideErased: false)
        } else if try eat(UInt8(ascii: "K")) {
            try constant()
        } else {
            try type()
        }
    }

    private mutating func type() throws(Failure) {
        try enter()
        defer { depth -= 1 }
        let tag = try next()
        if let basic = Self.basicType(tag) {
            emit(basic)
            return
        }
        switch tag {
        case UInt8(ascii: "A"):
            emit("[")
            try type()
            emit("; ")
            try constant()
            emit("]")
        case UInt8(ascii: "S"):
            emit("[")
            try type()
            emit("]")
        case UInt8(ascii: "T"):
            emit("(")
            var count = 0
            while try !eat(UInt8(ascii: "E")) {
                if count > 0 { emit(", ") }
                try type()
                count += 1
            }
            if count == 1 { emit(",") }
            emit(")")
        case UInt8(ascii: "R"), UInt8(ascii: "Q"):
            emit(tag == UInt8(ascii: "R") ? "&" : "&mut ")
            if try eat(UInt8(ascii: "L")) {
                let index = try base62()
                if index != 0 {
                    try lifetime(index, elideErased: true)
                    emit(" ")
                }
            }
            try type()
        case UInt8(ascii: "P"):
            emit("*const ")
            try type()
        case UInt8(ascii: "O"):
            emit("*mut ")
            try type()
        case UInt8(ascii: "F"):
            try functionSignature()
        case UInt8(ascii: "D"):
            try dynTrait()
        case UInt8(ascii: "B"):
            try backref { (demangler: inout RustV0Demangler) throws(Failure) in try demangler.type() }
        default:
            position -= 1  // a path names the type
            try path(inValue: false)
        }
    }

    private mutating func functionSignature() throws(Failure) {
        let outer = boundLifetimes
        defer { boundLifetimes = outer }
        try binder()
        if try eat(UInt8(ascii: "U")) { emit("unsafe ") }
        if try eat(UInt8(ascii: "K")) {
            if try eat(UInt8(ascii: "C")) {
                emit("extern \"C\" ")
            } else {
                let abi = try undisambiguatedIdentifier()
                emit("extern \"" + String(abi.map { $0 == "_" ? "-" : $0 }) + "\" ")
            }
        }
        emit("fn(")
        var first = true
        while try !eat(UInt8(ascii: "E")) {
            if !first { emit(", ") }
            first = false
            try type()
        }
        emit(")")
        if try eat(UInt8(ascii: "u")) { return }  // `-> ()` is not written
        emit(" -> ")
        try type()
    }

    private mutating func dynTrait() throws(Failure) {
        let outer = boundLifetimes
        try binderIfPresent(prefix: "dyn ")
        var first = true
        while try !eat(UInt8(ascii: "E")) {
            if !first { emit(" + ") }
            first = false
            var open = try path(inValue: false, leaveOpen: true)
            while try eat(UInt8(ascii: "p")) {
                emit(open ? ", " : "<")
                open = true
                emit(try undisambiguatedIdentifier() + " = ")
                try type()
            }
            if open { emit(">") }
        }
        boundLifetimes = outer
        guard try eat(UInt8(ascii: "L")) else { throw Failure() }
        let index = try base62()
        if index != 0 {
            emit(" + ")
            try lifetime(index, elideErased: true)
        }
    }

    /// `G n` binds n + 1 lifetimes and prints `for<'a, …> `.
    private mutating func binder() throws(Failure) {
        guard try eat(UInt8(ascii: "G")) else { return }
        let count = try base62() + 1
        guard count <= 1000 else { throw Failure() }
        emit("for<")
        for index in 0..<count {
            if index > 0 { emit(", ") }
            emit(Self.lifetimeName(level: boundLifetimes + Int(index)))
        }
        emit("> ")
        boundLifetimes += Int(count)
    }

    /// `dyn for<'a> Trait`: the `dyn ` goes before the binder.
    private mutating func binderIfPresent(prefix: String) throws(Failure) {
        emit(prefix)
        try binder()
    }

    private mutating func lifetime(_ index: UInt64, elideErased: Bool) throws(Failure) {
        if index == 0 {
            if !elideErased { emit("'_") }
            return
        }
        guard index <= UInt64(boundLifetimes) else { throw Failure() }
        emit(Self.lifetimeName(level: boundLifetimes - Int(index)))
    }

    private static func lifetimeName(level: Int) -> String {
        level < 26 ? "'" + String(UnicodeScalar(UInt8(ascii: "a") + UInt8(level))) : "'_\(level)"
    }

    private mutating func constant() throws(Failure) {
        try enter()
        defer { depth -= 1 }
        if try eat(UInt8(ascii: "p")) {
            emit("_")
            return
        }
        if try eat(UInt8(ascii: "B")) {
            try backref { (demangler: inout RustV0Demangler) throws(Failure) in try demangler.constant() }
            return
        }
        let type = try next()
        let negative = try eat(UInt8(ascii: "n"))
        var digits: [UInt8] = []
        while true {
            let byte = try next()
            if byte == UInt8(ascii: "_") { break }
            guard isDigit(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f")) else { throw Failure() }
            digits.append(byte)
        }
        let hex = String(decoding: digits, as: UTF8.self)
        let value = digits.isEmpty ? 0 : digits.count <= 16 ? UInt64(hex, radix: 16) : nil
        switch type {
        case UInt8(ascii: "b"):
            guard !negative, let value, value <= 1 else { throw Failure() }
            emit(value == 1 ? "true" : "false")
        case UInt8(ascii: "c"):
            guard !negative, let value, value <= 0x10ffff, let scalar = Unicode.Scalar(UInt32(value)) else { throw Failure() }
            emit("'" + scalar.escaped(asASCII: false) + "'")
        case UInt8(ascii: "a"), UInt8(ascii: "h"), UInt8(ascii: "i"), UInt8(ascii: "j"), UInt8(ascii: "l"),
             UInt8(ascii: "m"), UInt8(ascii: "n"), UInt8(ascii: "o"), UInt8(ascii: "s"), UInt8(ascii: "t"),
             UInt8(ascii: "x"), UInt8(ascii: "y"):
            guard !negative || Self.isSigned(type) else { throw Failure() }
            let magnitude = value.map { String($0) } ?? "0x" + hex
            emit((negative ? "-" : "") + magnitude)
        default:
            throw Failure()
        }
    }

    // MARK: - Identifiers and numbers

    private struct Identifier {
        var name: String
        var disambiguator: UInt64
    }

    private mutating func identifier() throws(Failure) -> Identifier {
        let disambiguator = try self.disambiguator()
        return Identifier(name: try undisambiguatedIdentifier(), disambiguator: disambiguator)
    }

    /// `s` base-62 (value + 1), or 0 when absent.
    private mutating func disambiguator() throws(Failure) -> UInt64 {
        guard try eat(UInt8(ascii: "s")) else { return 0 }
        let value = try base62()
        guard value < UInt64.max else { throw Failure() }
        return value + 1
    }

    private mutating func undisambiguatedIdentifier() throws(Failure) -> String {
        let punycode = try eat(UInt8(ascii: "u"))
        let length = try decimalNumber()
        _ = try eat(UInt8(ascii: "_"))
        guard length <= UInt64(input.count - position) else { throw Failure() }
        let bytes = input[position..<(position + Int(length))]
        position += Int(length)
        if punycode {
            guard let decoded = Punycode.decodeRustIdentifier(bytes) else { throw Failure() }
            return decoded
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private mutating func decimalNumber() throws(Failure) -> UInt64 {
        let first = try next()
        guard isDigit(first) else { throw Failure() }
        if first == UInt8(ascii: "0") { return 0 }
        var value = UInt64(first - UInt8(ascii: "0"))
        while let byte = peek(), isDigit(byte) {
            position += 1
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw Failure() }
            value = sum
        }
        return value
    }

    /// Digits `0-9a-zA-Z` then `_`; `_` alone is 0, otherwise the value plus one.
    private mutating func base62() throws(Failure) -> UInt64 {
        if try eat(UInt8(ascii: "_")) { return 0 }
        var value: UInt64 = 0
        while true {
            let byte = try next()
            if byte == UInt8(ascii: "_") { break }
            let digit: UInt64
            if isDigit(byte) {
                digit = UInt64(byte - UInt8(ascii: "0"))
            } else if isLower(byte) {
                digit = UInt64(byte - UInt8(ascii: "a")) + 10
            } else if isUpper(byte) {
                digit = UInt64(byte - UInt8(ascii: "A")) + 36
            } else {
                throw Failure()
            }
            let (times, overflow1) = value.multipliedReportingOverflow(by: 62)
            let (sum, overflow2) = times.addingReportingOverflow(digit)
            guard !overflow1, !overflow2 else { throw Failure() }
            value = sum
        }
        guard value < UInt64.max else { throw Failure() }
        return value + 1
    }

    // MARK: - Mechanics

    /// Follows `B n` to an earlier position, parses there with `body`, and comes back.
    private mutating func backref(_ body: (inout RustV0Demangler) throws(Failure) -> Void) throws(Failure) {
        let start = position - 1  // the `B`
        let target = try base62()
        guard target < UInt64(start) else { throw Failure() }
        guard printing else { return }  // nothing to show: skip the referenced part
        let resume = position
        position = Int(target)
        try body(&self)
        position = resume
    }

    /// Parses with `body` without printing.
    private mutating func hidden(_ body: (inout RustV0Demangler) throws(Failure) -> Void) throws(Failure) {
        let wasPrinting = printing
        printing = false
        defer { printing = wasPrinting }
        try body(&self)
    }

    private mutating func enter() throws(Failure) {
        depth += 1
        guard depth <= Self.maximumDepth else { throw Failure() }
    }

    private mutating func emit(_ text: String) {
        guard printing else { return }
        output += Array(text.utf8)
    }

    private func peek() -> UInt8? { position < input.count ? input[position] : nil }

    private mutating func next() throws(Failure) -> UInt8 {
        guard position < input.count else { throw Failure() }
        guard output.count <= Self.maximumOutput else { throw Failure() }
        defer { position += 1 }
        return input[position]
    }

    private mutating func eat(_ byte: UInt8) throws(Failure) -> Bool {
        guard peek() == byte else { return false }
        position += 1
        return true
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    private func isLower(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") }
    private func isUpper(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") }

    private static func isSigned(_ type: UInt8) -> Bool {
        [UInt8(ascii: "a"), UInt8(ascii: "i"), UInt8(ascii: "l"), UInt8(ascii: "n"), UInt8(ascii: "s"), UInt8(ascii: "x")].contains(type)
    }

    private static func basicType(_ tag: UInt8) -> String? {
        switch tag {
        case UInt8(ascii: "a"): "i8"
        case UInt8(ascii: "b"): "bool"
        case UInt8(ascii: "c"): "char"
        case UInt8(ascii: "d"): "f64"
        case UInt8(ascii: "e"): "str"
        case UInt8(ascii: "f"): "f32"
        case UInt8(ascii: "h"): "u8"
        case UInt8(ascii: "i"): "isize"
        case UInt8(ascii: "j"): "usize"
        case UInt8(ascii: "l"): "i32"
        case UInt8(ascii: "m"): "u32"
        case UInt8(ascii: "n"): "i128"
        case UInt8(ascii: "o"): "u128"
        case UInt8(ascii: "s"): "i16"
        case UInt8(ascii: "t"): "u16"
        case UInt8(ascii: "u"): "()"
        case UInt8(ascii: "v"): "..."
        case UInt8(ascii: "x"): "i64"
        case UInt8(ascii: "y"): "u64"
        case UInt8(ascii: "z"): "!"
        case UInt8(ascii: "p"): "_"
        default: nil
        }
    }
}
