import CSymbolize

/// Turns linker symbol names back into source names, for Swift, C++ and Rust.
///
/// - Swift (`$s…`, `_$s…`, `$e…`, `_T0…`): the Swift runtime's own demangler, in full form
///   (`swift_demangle`: `main.foo(Swift.Int) -> Swift.Int`) or the simplified form Swift's
///   backtraces use (`foo(_:)`).
/// - C++ (`_Z…`, Itanium ABI): libstdc++'s `__cxa_demangle`.
/// - Rust legacy (`_ZN…17h<16 hex digits>E`): the path with its escapes decoded, the hash dropped.
/// - Rust v0 (`_R…`): this module's own decoder of the v0 grammar.
///
/// Any other name, and any name a demangler rejects, comes back unchanged: demangling never
/// fails and never traps.
///
/// ```swift
/// Demangler.demangle("_ZN6bpfkit6Widget4spinEi")                // "bpfkit::Widget::spin(int)"
/// Demangler.demangle("$s4main3fooyS2iF")                        // "main.foo(Swift.Int) -> Swift.Int"
/// Demangler.demangle("$s4main3fooyS2iF", style: .simplified)    // "foo(_:)"
/// Demangler.demangle("_RNvCs15kBYyAo9fc_7mycrate7example")      // "mycrate::example"
/// ```
public enum Demangler {
    /// How much of a Swift name to show; C++ and Rust names read the same in both styles.
    public enum Style: Sendable, Equatable {
        /// Module-qualified, with parameter and result types: `main.foo(Swift.Int) -> Swift.Int`.
        case full
        /// As Swift's backtraces print frames: `foo(_:)`, `static Thing.bar(x:y:)`.
        case simplified
    }

    /// The languages whose names this demangler recognises.
    public enum Language: Sendable, Equatable {
        case swift, cplusplus, rustLegacy, rustV0
    }

    /// Names longer than this are returned as they are (no demangler is asked to parse them).
    public static let maximumLength = 1 << 16

    /// The demangled form of `symbol`, or `symbol` itself when it is not a mangled name this
    /// demangler understands.
    public static func demangle(_ symbol: String, style: Style = .full) -> String {
        guard let language = language(of: symbol) else { return symbol }
        switch language {
        case .rustV0: return RustV0Demangler.demangle(symbol) ?? symbol
        case .rustLegacy: return RustLegacyDemangler.demangle(symbol) ?? cplusplus(symbol) ?? symbol
        case .cplusplus: return cplusplus(symbol) ?? symbol
        case .swift: return swift(symbol, style: style) ?? symbol
        }
    }

    /// The mangling scheme `symbol` appears to use, from its prefix (and for Rust legacy
    /// names, the hash component), or nil for plain names.
    public static func language(of symbol: String) -> Language? {
        let utf8 = symbol.utf8
        guard utf8.count >= 3, utf8.count <= maximumLength else { return nil }
        if symbol.hasPrefix("_R") { return .rustV0 }
        if symbol.hasPrefix("_Z") { return RustLegacyDemangler.isRustLegacy(symbol) ? .rustLegacy : .cplusplus }
        for prefix in ["$s", "$S", "$e", "_$s", "_$S", "_$e", "_T0", "@__swiftmacro_"] where symbol.hasPrefix(prefix) {
            return .swift
        }
        return nil
    }

    private static func swift(_ symbol: String, style: Style) -> String? {
        var copy = symbol
        return copy.withUTF8 { buffer -> String? in
            guard let base = buffer.baseAddress else { return nil }
            let text = base.withMemoryRebound(to: CChar.self, capacity: buffer.count) { name in
                style == .full
                    ? bpfkit_swift_demangle(name, buffer.count) : bpfkit_swift_demangle_simplified(name, buffer.count)
            }
            return take(text)
        }
    }

    private static func cplusplus(_ symbol: String) -> String? {
        guard !symbol.utf8.contains(0) else { return nil }
        return take(symbol.withCString { bpfkit_cxx_demangle($0) })
    }

    /// A malloc'd C string from a demangler as a String (freed), nil for NULL or "".
    private static func take(_ text: UnsafeMutablePointer<CChar>?) -> String? {
        guard let text else { return nil }
        defer { bpfkit_demangle_free(text) }
        let result = String(cString: text)
        return result.isEmpty ? nil : result
    }
}
