/// Kernel TCP states (include/net/tcp_states.h) by name, as bcc's tcpretrans prints them.
enum TCPState {
    static func name(_ state: UInt32) -> String {
        let names = ["ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
                     "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV"]
        return state >= 1 && Int(state) <= names.count ? names[Int(state) - 1] : "UNKNOWN(\(state))"
    }
}
