/// A kernel feature a program or tool needs is not there. Tools catch it to fall back to
/// another path and print it as one line: "fentry: the kernel refused … use a tracepoint".
public struct MissingFeatureError: Error, CustomStringConvertible {
    public var feature: String
    public var reason: String

    public init(feature: String, reason: String) {
        self.feature = feature
        self.reason = reason
    }

    public var description: String { "\(feature) is not available: \(reason)" }
}
