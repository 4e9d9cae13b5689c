import BPFKit
import Report

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What `bpfkit exporter` runs, from a JSON file:
///
///     {
///       "listen": "127.0.0.1:9435",
///       "collectors": {
///         "biolatency": {"disk": "sda"},
///         "runqlat": {},
///         "offcpu": {"top": 5}
///       }
///     }
///
/// Every key is checked: an unknown collector or option is an error before anything loads.
struct ExporterConfiguration {
    var listen: String?
    var collectors: [(kind: CollectorKind, collector: any Collector)]

    /// Every collector with its default options (no configuration file).
    static func allCollectors() throws -> ExporterConfiguration {
        ExporterConfiguration(listen: nil, collectors: try CollectorKind.allCases.map { kind in
            var options = CollectorOptions(collector: kind.rawValue, values: [])
            return (kind, try kind.type.init(options: &options))
        })
    }

    static func load(path: String) throws -> ExporterConfiguration {
        guard let text = readSmallFile(path) else {
            let reason = access(path, R_OK) != 0 ? String(cString: strerror(errno)).lowercased() : "not a readable file"
            throw ConfigError("config \(path): \(reason)")
        }
        do {
            return try parse(text)
        } catch let error as JSONParseError {
            throw ConfigError("config \(path): not valid JSON: \(error)")
        } catch let error as ConfigError {
            throw ConfigError("config \(path): \(error.message)")
        }
    }

    static func parse(_ text: String) throws -> ExporterConfiguration {
        guard case .object(let fields) = try JSON.parse(text) else { throw ConfigError("the top level must be a JSON object") }
        var listen: String?
        var collectors: [(CollectorKind, any Collector)]?
        for (key, value) in fields {
            switch key {
            case "listen":
                guard case .string(let text) = value else { throw ConfigError("listen must be a string like \"127.0.0.1:9435\"") }
                listen = text
            case "collectors":
                guard case .object(let entries) = value, !entries.isEmpty else {
                    throw ConfigError("collectors must be an object naming at least one collector")
                }
                collectors = try entries.map { name, options in
                    guard let kind = CollectorKind(rawValue: name) else {
                        throw ConfigError("unknown collector \"\(name)\" (known: "
                            + CollectorKind.allCases.map(\.rawValue).joined(separator: ", ") + ")")
                    }
                    guard case .object(let values) = options else { throw ConfigError("collector \(name): options must be an object ({} for none)") }
                    var reader = CollectorOptions(collector: name, values: values)
                    let collector = try kind.type.init(options: &reader)
                    try reader.checkAllRead()
                    return (kind, collector)
                }
            default:
                throw ConfigError("unknown key \"\(key)\" (known: listen, collectors)")
            }
        }
        guard let collectors else { throw ConfigError("no \"collectors\" object") }
        return ExporterConfiguration(listen: listen, collectors: collectors)
    }
}

/// A configuration mistake, as one line.
struct ConfigError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
