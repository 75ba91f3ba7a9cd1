import Scheduler

/// The tuner's state: which knob is selected, values edited but not yet applied (pending), and the last
/// answer from the engine. Applying goes through `EngineClient.setKnobs`, which validates; a refusal's
/// reason is shown as the engine wrote it.
public struct Tuner {
    public enum Knob: String, CaseIterable, Sendable {
        case maxNumBatchedTokens = "max_num_batched_tokens"
        case maxModelLen = "max_model_len"
        case maxNumSeqs = "max_num_seqs"

        public func value(in c: SchedulerConfig) -> Int {
            switch self {
            case .maxNumBatchedTokens: c.maxNumBatchedTokens
            case .maxModelLen: c.maxModelLen
            case .maxNumSeqs: c.maxNumSeqs
            }
        }

        /// The step of the arrow keys (`-`/`+` halve and double).
        var step: Int {
            switch self {
            case .maxNumBatchedTokens, .maxModelLen: 256
            case .maxNumSeqs: 1
            }
        }
    }

    public var selected: Knob = .maxNumBatchedTokens
    public var pending: [Knob: Int] = [:]
    /// Digits typed for the selected knob, not yet committed to `pending`.
    public var typed: String?
    public var message: (text: String, isError: Bool)?
    /// A setKnobs call is in flight.
    public var applying = false
    public let readOnly: Bool

    public init(readOnly: Bool) { self.readOnly = readOnly }

    public func shown(_ knob: Knob, applied c: SchedulerConfig) -> Int { pending[knob] ?? knob.value(in: c) }

    public mutating func select(offset: Int) {
        let all = Knob.allCases
        let i = all.firstIndex(of: selected)!
        selected = all[(i + offset + all.count) % all.count]
        commitTyped()
    }

    /// Arrow-key step (`by` = -1 / +1) or halve / double (`scale`), from the pending value if any.
    public mutating func adjust(by steps: Int = 0, scale: Double = 1, applied c: SchedulerConfig) {
        commitTyped()
        let current = shown(selected, applied: c)
        var next = current + steps * selected.step
        if scale != 1 { next = Int((Double(current) * scale).rounded()) }
        setPending(selected, max(1, next), applied: c)
    }

    public mutating func type(_ digit: Character) {
        guard digit.isASCII, digit.isNumber else { return }
        if (typed ?? "").count < 9 { typed = (typed ?? "") + String(digit) }
    }

    public mutating func backspace() {
        guard var t = typed else { return }
        t.removeLast()
        typed = t.isEmpty ? nil : t
    }

    /// Typed digits become the pending value of the selected knob.
    public mutating func commitTyped(applied c: SchedulerConfig? = nil) {
        guard let t = typed, let v = Int(t) else { typed = nil; return }
        typed = nil
        if let c { setPending(selected, v, applied: c) } else { pending[selected] = v }
    }

    mutating func setPending(_ knob: Knob, _ value: Int, applied c: SchedulerConfig) {
        pending[knob] = value == knob.value(in: c) ? nil : value
    }

    public mutating func discardPending() {
        pending.removeAll()
        typed = nil
        message = nil
    }

    /// Parses the arguments of `:set NAME VALUE` (NAME may also use dashes, as on the command line).
    public static func parseSet(_ args: [Substring]) -> Result<(Knob, Int), ConsoleError> {
        guard args.count == 2 else {
            return .failure(ConsoleError("usage: :set NAME VALUE (NAME: \(Knob.allCases.map(\.rawValue).joined(separator: ", ")))"))
        }
        let name = args[0].replacingOccurrences(of: "-", with: "_").lowercased()
        guard let knob = Knob(rawValue: name) else {
            return .failure(ConsoleError("unknown knob \"\(args[0])\" (knobs: \(Knob.allCases.map(\.rawValue).joined(separator: ", ")))"))
        }
        guard let value = Int(args[1]) else { return .failure(ConsoleError("\(knob.rawValue): \"\(args[1])\" is not a whole number")) }
        return .success((knob, value))
    }
}
