import Foundation
import Tokenizer

/// The prompt pane's model: the turns so far, the line being typed, and the answer streaming in.
/// Changed only on the render loop's thread (engine updates arrive through `EventInbox`).
public struct Conversation {
    public struct Turn: Equatable {
        public var role: String  // "user" or "assistant"
        public var text: String
        /// Why the answer ended ("stop", "length", "stopped by Esc", an error), nil while streaming.
        public var ending: String?
    }

    public private(set) var turns: [Turn] = []
    public var input = ""
    /// The engine's id for the answer streaming now.
    public var activeRequest: Int?
    public private(set) var streaming = false
    /// Lines scrolled up from the bottom.
    public var scroll = 0
    /// How many earlier turns go back to the model with each message (keeps the prompt inside the context).
    public static let turnsSent = 8

    public init() {}

    /// Moves the typed line into the conversation and opens an empty answer; returns the messages to send,
    /// nil when there is nothing to send or an answer is still streaming.
    public mutating func send() -> [ChatMessage]? {
        let text = input.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, !streaming else { return nil }
        input = ""
        scroll = 0
        turns.append(Turn(role: "user", text: text))
        let messages = turns.suffix(Self.turnsSent).filter { $0.ending != "error" || $0.role == "user" }
            .map { ChatMessage(role: $0.role, content: $0.text) }
        turns.append(Turn(role: "assistant", text: ""))
        streaming = true
        return messages
    }

    public mutating func receive(_ text: String) {
        guard streaming, !turns.isEmpty else { return }
        turns[turns.count - 1].text += text
    }

    public mutating func finish(_ ending: String) {
        guard streaming, !turns.isEmpty else { return }
        turns[turns.count - 1].ending = ending
        streaming = false
        activeRequest = nil
    }

    public mutating func clear() {
        guard !streaming else { return }
        turns.removeAll()
        scroll = 0
    }
}
