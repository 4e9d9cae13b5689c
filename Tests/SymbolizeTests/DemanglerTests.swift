// Demangling Swift, C++ and Rust (legacy and v0) names; the Rust v0 cases are the examples
// of the v0 format's documentation with their recommended demanglings.
import Testing
@testable import Symbolize

@Suite("Demangler")
struct DemanglerTests {
    @Test("Swift names through the runtime's demangler, full and simplified")
    func swift() {
        #expect(Demangler.demangle("$s4main3fooyS2iF") == "main.foo(Swift.Int) -> Swift.Int")
        #expect(Demangler.demangle("$s4main3fooyS2iF", style: .simplified) == "foo(_:)")
        #expect(Demangler.demangle("$s6burner5burnAyyF", style: .simplified) == "burnA()")
        #expect(Demangler.demangle("$s4main5ThingV3bar1x1ySSSi_SaySiGtFZ") == "static main.Thing.bar(x: Swift.Int, y: Swift.Array<Swift.Int>) -> Swift.String")
        #expect(Demangler.demangle("$s4main5ThingV3bar1x1ySSSi_SaySiGtFZ", style: .simplified) == "static Thing.bar(x:y:)")
        #expect(Demangler.demangle("$sSa6appendyyxnF", style: .simplified) == "Array.append(_:)")
        #expect(Demangler.language(of: "$s4main3fooyS2iF") == .swift)
        #expect(Demangler.demangle("$sNotReallySwift!!") == "$sNotReallySwift!!")
    }

    @Test("C++ names through __cxa_demangle")
    func cplusplus() {
        #expect(Demangler.demangle("_ZN6bpfkit6Widget4spinEi") == "bpfkit::Widget::spin(int)")
        #expect(Demangler.demangle("_ZNSt6vectorIiSaIiEE9push_backERKi") == "std::vector<int, std::allocator<int> >::push_back(int const&)")
        #expect(Demangler.demangle("_Z3foov.cold") == "foo() [clone .cold]")
        #expect(Demangler.demangle("_Z") == "_Z")
        #expect(Demangler.demangle("_Zgarbage") == "_Zgarbage")
        #expect(Demangler.language(of: "_ZN6bpfkit6Widget4spinEi") == .cplusplus)
    }

    @Test("Rust legacy names: escapes decoded, hash dropped")
    func rustLegacy() {
        #expect(Demangler.demangle("_ZN4core3fmt9Arguments6new_v117h0123456789abcdefE") == "core::fmt::Arguments::new_v1")
        #expect(Demangler.language(of: "_ZN4core3fmt9Arguments6new_v117h0123456789abcdefE") == .rustLegacy)
        let component = "_$LT$alloc..vec..Vec$LT$T$GT$$u20$as$u20$core..ops..drop..Drop$GT$"
        let symbol = "_ZN\(component.utf8.count)\(component)4drop17h5c2b5a0dde2d6d31E"
        #expect(Demangler.demangle(symbol) == "<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop")
        #expect(Demangler.demangle("_ZN3foo3bar17h0123456789abcdefE.llvm.8442") == "foo::bar")
        let escaped = "closure$C$5$u7b$$u7d$"
        #expect(Demangler.demangle("_ZN\(escaped.utf8.count)\(escaped)17h0123456789abcdefE") == "closure,5{}")
        // Not Rust: the last component is not a hash. Itanium demangling applies.
        #expect(Demangler.demangle("_ZN3foo3barE") == "foo::bar")
        // An unknown escape: not decodable as Rust, so the Itanium demangler has its go.
        #expect(Demangler.demangle("_ZN10foo$XX$bar17h0123456789abcdefE").hasPrefix("foo$XX$bar"))
    }

    @Test("Rust v0 names: the format documentation's examples",
          arguments: [
            ("_RNvMsr_NtCs3ssYzQotkvD_3std4pathNtB5_7PathBuf3newCs15kBYyAo9fc_7mycrate", "<std::path::PathBuf>::new"),
            ("_RNvCs15kBYyAo9fc_7mycrate7example", "mycrate::example"),
            ("_RNvMs_Cs4Cv8Wi1oAIB_7mycrateNtB4_7Example3foo", "<mycrate::Example>::foo"),
            ("_RNvXCs15kBYyAo9fc_7mycrateNtB2_7ExampleNtB2_5Trait3foo", "<mycrate::Example as mycrate::Trait>::foo"),
            ("_RNvMCs7qp2U7fqm6G_7mycrateNtB2_7Example3foo", "<mycrate::Example>::foo"),
            ("_RNvMs_Cs7qp2U7fqm6G_7mycrateNtB4_7Example3bar", "<mycrate::Example>::bar"),
            ("_RNvYNtCs15kBYyAo9fc_7mycrate7ExampleNtB4_5Trait7exampleB4_", "<mycrate::Example as mycrate::Trait>::example"),
            ("_RNCNvCsgStHSCytQ6I_7mycrate4main0B3_", "mycrate::main::{closure#0}"),
            ("_RNCNvCsgStHSCytQ6I_7mycrate4mains_0B3_", "mycrate::main::{closure#1}"),
            ("_RINvCsgStHSCytQ6I_7mycrate7examplelKj1_EB2_", "mycrate::example::<i32, 1>"),
            ("_RNvNtNtCsgOH4LzxkuMq_7mycrateu8gdel_5qa6escher4bach", "mycrate::gödel::escher::bach"),
            ("_RINvCs7qp2U7fqm6G_7mycrate7exampleFG0_RL1_hRL0_tEuEB2_", "mycrate::example::<for<'a, 'b> fn(&'a u8, &'b u16)>"),
            ("_RINvCs7qp2U7fqm6G_7mycrate7exampleKy12345678_EB2_", "mycrate::example::<305419896>"),
            ("_RNvNvMCsd9PVOYlP1UU_7mycrateINtB4_7ExamplepKpE3foo14EXAMPLE_STATIC", "<mycrate::Example<_, _>>::foo::EXAMPLE_STATIC"),
            ("_RINvCs7qp2U7fqm6G_7mycrate7exampleAtj8_EB2_", "mycrate::example::<[u16; 8]>"),
            ("_RINvCs7qp2U7fqm6G_7mycrate7exampleNtB2_7ExampleBw_EB2_", "mycrate::example::<mycrate::Example, mycrate::Example>"),
            ("_RINvMsY_NtCseXNvpPnDBDp_3std4pathNtB6_4Path3neweECs7qp2U7fqm6G_7mycrate", "<std::path::Path>::new::<str>"),
            ("_RNvNvNvCs7qp2U7fqm6G_7mycrate7EXAMPLE7___getit5___KEY$tlv$init", "mycrate::EXAMPLE::__getit::__KEY"),
          ])
    func rustV0Examples(symbol: String, expected: String) {
        #expect(Demangler.demangle(symbol) == expected)
    }

    @Test("Rust v0 types: references, pointers, slices, tuples, dyn, unsafe extern fn, constants")
    func rustV0Types() {
        #expect(Demangler.demangle("_RINvC1a1fRShE") == "a::f::<&[u8]>")
        #expect(Demangler.demangle("_RINvC1a1fQPOeE") == "a::f::<&mut *const *mut str>")
        #expect(Demangler.demangle("_RINvC1a1fTlEE") == "a::f::<(i32,)>")
        #expect(Demangler.demangle("_RINvC1a1fTlmEE") == "a::f::<(i32, u32)>")
        #expect(Demangler.demangle("_RINvC1a1fFUKCjEzE") == "a::f::<unsafe extern \"C\" fn(usize) -> !>")
        #expect(Demangler.demangle("_RINvC1a1fDNtC1b5TraitEL_E") == "a::f::<dyn b::Trait>")
        #expect(Demangler.demangle("_RINvC1a1fDNtC1b4Iterp4ItemhNtC3std4SendEL_E") == "a::f::<dyn b::Iter<Item = u8> + std::Send>")
        #expect(Demangler.demangle("_RINvC1a1fDINtC4core2FnThEEp6OutputuEL_E") == "a::f::<dyn core::Fn<(u8,), Output = ()>>")
        #expect(Demangler.demangle("_RINvC1a1fKb1_Kane_Kce9_E") == "a::f::<true, -14, 'é'>")
        #expect(Demangler.demangle("_RINvC1a1fKpE") == "a::f::<_>")
        #expect(Demangler.demangle("_RNSNvC1a1f6vtable") == "a::f::{shim:vtable#0}")
    }

    @Test("malformed Rust v0 names come back raw",
          arguments: ["_RB_", "_RB5_", "_RNvB_1a", "_R", "_RNv", "_RNvC1a", "_RC99a", "_RNvC1a1fX", "_RIC1aKz1_E", "_RNvC1a1f!!", "_RC1a1"])
    func rustV0Malformed(symbol: String) {
        #expect(Demangler.demangle(symbol) == symbol)
    }

    @Test("Punycode identifiers (with _ as the delimiter)",
          arguments: [("gdel_5qa", "gödel"), ("f_5gaa", "føø"), ("__ylb7e", "α_ω"), ("n84amf", "铁锈"), ("fq9h", "🤦"), ("2xaedc", "ρυστ")])
    func punycode(encoded: String, decoded: String) {
        #expect(Punycode.decodeRustIdentifier(Array(encoded.utf8)[...]) == decoded)
    }

    @Test("plain names are unchanged")
    func plainNames() {
        for name in ["main", "malloc", "_start", "", "$", "_R", "__libc_start_main", "bpf_prog_6deef7357e7b4530_x"] {
            #expect(Demangler.demangle(name) == name)
            #expect(Demangler.demangle(name, style: .simplified) == name)
        }
        #expect(Demangler.language(of: "malloc") == nil)
    }

    @Test("seeded random input never traps any demangler", arguments: [11, 12])
    func randomInput(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let prefixes = ["_R", "_RNv", "_RI", "_ZN", "_Z", "$s", "_$s", "_T0", "_RINvC"]
        let alphabet = Array("_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ$.<>".utf8)
        for _ in 0..<3000 {
            var bytes = Array(prefixes.randomElement(using: &random)!.utf8)
            for _ in 0..<Int.random(in: 0...40, using: &random) {
                bytes.append(Bool.random(using: &random) ? alphabet.randomElement(using: &random)! : UInt8.random(in: 1...255, using: &random))
            }
            let symbol = String(decoding: bytes, as: UTF8.self)
            _ = Demangler.demangle(symbol)
            _ = Demangler.demangle(symbol, style: .simplified)
        }
        // Deep nesting and exponential back references stay bounded.
        _ = Demangler.demangle("_R" + String(repeating: "NvNv", count: 5000) + "C1a1b")
        _ = Demangler.demangle("_RINvC1a1f" + String(repeating: "TB9_B9_E", count: 200) + "E")
        _ = Demangler.demangle("_RNv" + String(repeating: "M", count: 3000))
        _ = Demangler.demangle("_ZN" + String(repeating: "1a", count: 10000) + "17h0123456789abcdefE")
    }
}
