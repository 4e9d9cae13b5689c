import CZlib

/// gzip (RFC 1952) through the system's zlib: pprof files are gzip-compressed protobuf.
public enum Gzip {
    /// `bytes` as one gzip member.
    public static func compress(_ bytes: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        var stream = z_stream()
        guard bpfkit_gzip_deflate_init(&stream, level) == Z_OK else { throw PprofError("zlib: cannot start compressing") }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))))
        var input = bytes
        let status = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = uInt(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = uInt(target.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw PprofError("zlib: compression failed (\(status))") }
        return Array(output.prefix(Int(stream.total_out)))
    }

    /// The contents of a gzip file (all of its members).
    public static func decompress(_ bytes: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        guard bpfkit_gzip_inflate_init(&stream) == Z_OK else { throw PprofError("zlib: cannot start decompressing") }
        defer { inflateEnd(&stream) }
        var input = bytes
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var status: Int32 = Z_OK
        try input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            repeat {
                let produced = chunk.withUnsafeMutableBufferPointer { target -> Int in
                    stream.next_out = target.baseAddress
                    stream.avail_out = uInt(target.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return target.count - Int(stream.avail_out)
                }
                result += chunk.prefix(produced)
                if status == Z_STREAM_END && stream.avail_in > 0 {
                    // Another member follows.
                    guard inflateReset(&stream) == Z_OK else { break }
                    status = Z_OK
                }
            } while status == Z_OK
            if status != Z_STREAM_END { throw PprofError("not gzip data, or truncated (zlib \(status))") }
        }
        return result
    }
}
