import Report
import ToolEvents

/// Prints one interval of ``ThreadStateRow``s as a table (percentages, or milliseconds
/// with `-m`) or as one JSON object.
struct ThreadStatePrinter {
    static let states = ["cpu", "runq", "sleep", "disk", "lock", "other"]

    var milliseconds: Bool
    var json: Bool

    func print(_ rows: [ThreadStateRow], intervalNanoseconds: UInt64) {
        let out = Output.standardOutput
        if json {
            let threads: [JSON] = rows.map { row in
                let total = row.total
                var fields: [(String, JSON)] = [
                    ("tid", .unsigned(UInt64(row.tid))), ("pid", .unsigned(UInt64(row.pid))),
                    ("comm", .string(row.comm)), ("total_ms", .double(Self.ms(total))),
                ]
                for (index, state) in Self.states.enumerated() {
                    fields.append((state + "_ms", .double(Self.ms(row.nanoseconds[index]))))
                    fields.append((state + "_pct", .double(Self.percent(row.nanoseconds[index], of: total))))
                }
                return .object(fields)
            }
            out.line(JSON.object([
                ("timestamp", .double(Clock.unixSeconds())),
                ("interval_ms", .double(Self.ms(intervalNanoseconds))),
                ("threads", .array(threads)),
            ]).serialized())
            return
        }
        out.line("")
        out.line(Clock.wallTime())
        let suffix = milliseconds ? "_ms" : "%"
        var header = Columns.right("TID", 7) + " " + Columns.left("COMM", 16)
        for state in Self.states { header += " " + Columns.right(state.uppercased() + suffix, 9) }
        out.line(header + " " + Columns.right("TOTAL_ms", 10))
        for row in rows {
            let total = row.total
            var line = Columns.right(row.tid, 7) + " " + Columns.left(row.comm, 16)
            for value in row.nanoseconds {
                let shown = milliseconds ? Self.ms(value) : Self.percent(value, of: total)
                line += " " + Columns.right(Columns.fixed(shown, decimals: 1), 9)
            }
            out.line(line + " " + Columns.right(Columns.fixed(Self.ms(total), decimals: 1), 10))
        }
    }

    private static func ms(_ nanoseconds: UInt64) -> Double {
        (Double(nanoseconds) / 1e6 * 1000).rounded() / 1000
    }

    private static func percent(_ part: UInt64, of total: UInt64) -> Double {
        total == 0 ? 0 : (Double(part) * 1000 / Double(total)).rounded() / 10
    }
}
