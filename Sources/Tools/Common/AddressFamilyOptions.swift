import ArgumentParser

/// The TCP tools' `-4` / `-6`: trace one address family only, checked in the kernel.
public struct AddressFamilyOptions: ParsableArguments {
    @Flag(name: [.customShort("4"), .customLong("ipv4")], help: "Trace IPv4 only.")
    var ipv4 = false

    @Flag(name: [.customShort("6"), .customLong("ipv6")], help: "Trace IPv6 only.")
    var ipv6 = false

    public init() {}

    func check() throws {
        if ipv4 && ipv6 { throw ValidationError("-4 and -6 exclude each other") }
    }

    /// The `target_family` global the programs compare with: AF_INET, AF_INET6, or 0 for both.
    var family: UInt16 { ipv4 ? 2 : ipv6 ? 10 : 0 }
}
