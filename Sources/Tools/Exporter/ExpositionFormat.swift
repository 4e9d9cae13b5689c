/// The two text formats a scraper may ask for: Prometheus text 0.0.4 (the default) and
/// OpenMetrics 1.0.0, chosen from the request's Accept header.
enum ExpositionFormat {
    case prometheus
    case openMetrics

    var contentType: String {
        switch self {
        case .prometheus: "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// OpenMetrics when the Accept header names it (Prometheus 2.x lists it first when
    /// it wants it), else the classic text format.
    init(accept: String?) {
        self = accept?.lowercased().contains("application/openmetrics-text") == true ? .openMetrics : .prometheus
    }

    /// The whole exposition of `families`.
    func render(_ families: [MetricFamily]) -> String {
        var text = ""
        text.reserveCapacity(families.count * 256)
        for family in families {
            // Classic text names a counter family by its samples' name; OpenMetrics by the
            // name without `_total`.
            let familyName = self == .prometheus && family.kind == .counter ? family.name + "_total" : family.name
            text += "# HELP \(familyName) "
            Self.escapeHelp(family.help, into: &text)
            text += "\n# TYPE \(familyName) \(family.kind.rawValue)\n"
            for sample in family.samples {
                text += family.name
                text += sample.suffix
                if !sample.labels.isEmpty {
                    text += "{"
                    for (index, (name, value)) in sample.labels.enumerated() {
                        if index > 0 { text += "," }
                        text += name
                        text += "=\""
                        Self.escapeLabel(value, into: &text)
                        text += "\""
                    }
                    text += "}"
                }
                text += " "
                text += sample.value.text
                text += "\n"
            }
        }
        if self == .openMetrics { text += "# EOF\n" }
        return text
    }

    /// Label values escape backslash, double quote and line feed.
    static func escapeLabel(_ value: String, into text: inout String) {
        for character in value.unicodeScalars {
            switch character {
            case "\\": text += "\\\\"
            case "\"": text += "\\\""
            case "\n": text += "\\n"
            default: text.unicodeScalars.append(character)
            }
        }
    }

    /// Help text escapes backslash and line feed.
    static func escapeHelp(_ value: String, into text: inout String) {
        for character in value.unicodeScalars {
            switch character {
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            default: text.unicodeScalars.append(character)
            }
        }
    }
}
