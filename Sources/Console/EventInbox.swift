import Synchronization

/// What background tasks (a streaming answer, a knob change) report to the render loop, which applies
/// them between frames, so the console's state is only ever changed on one thread.
enum ConsoleEvent: Sendable {
    /// `answer` numbers each prompt, so a late event of an earlier answer is ignored.
    case answerStarted(answer: Int, requestID: Int)
    case answerText(answer: Int, String)
    case answerEnded(answer: Int, String)
    case knobsApplied(SavedKnobs)
    case knobsRefused(String)
}

final class EventInbox: Sendable {
    private let events = Mutex<[ConsoleEvent]>([])

    func post(_ event: ConsoleEvent) { events.withLock { $0.append(event) } }

    func drain() -> [ConsoleEvent] { events.withLock { e in defer { e.removeAll() }; return e } }
}
