#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Addresses as the TCP tools print them: `127.0.0.1`, `::1` (inet_ntop's text).
enum InternetAddress {
    /// The text of an address the kernel keeps as network-order bytes (`__u8 saddr[16]`,
    /// imported as a tuple): 4 bytes for AF_INET, 16 for AF_INET6.
    static func text<Bytes>(family: UInt16, _ bytes: Bytes) -> String {
        withUnsafeBytes(of: bytes) { raw in
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            let ok = buffer.withUnsafeMutableBufferPointer { text in
                inet_ntop(family == 10 ? AF_INET6 : AF_INET, raw.baseAddress, text.baseAddress, socklen_t(text.count)) != nil
            }
            guard ok else { return "?" }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// bcc's IP column: 4 or 6.
    static func version(family: UInt16) -> Int { family == 10 ? 6 : 4 }
}
