import Engine
import Foundation
import Models
import Scheduler
import Telemetry
import Tokenizer

/// What the console is started with (from the command line).
public struct ConsoleConfiguration: Sendable {
    public var modelName: String
    /// "cpu (2 threads)" and the like, for the title bar.
    public var backend: String
    public var chatFormat: ChatFormat?
    public var chatFormatError: String?
    public var readOnly = false
    public var theme: Theme
    /// `--color`: lower the colour mode (nil: the best the terminal has).
    public var color: ColorMode?
    /// `NO_COLOR` was set.
    public var noColor = false
    public var glyphs = Glyphs(unicode: true)
    /// Where `save` writes the knobs.
    public var knobsPath: String
    /// A line about the HTTP API (`--port`), shown in the title bar.
    public var serverNote: String?
    /// A note from start-up (saved knobs applied, or why not), shown until the first key.
    public var startupNote: String?
    /// Where stderr goes while the console owns the terminal (nil: left alone).
    public var logPath: String?
    /// Most tokens of one answer in the prompt pane.
    public var maxAnswerTokens = 512
    public var sampling = SamplingParameters(temperature: 0.7, topP: 0.9)

    public init(modelName: String, backend: String, chatFormat: ChatFormat?, chatFormatError: String? = nil, theme: Theme,
                knobsPath: String) {
        self.modelName = modelName
        self.backend = backend
        self.chatFormat = chatFormat
        self.chatFormatError = chatFormatError
        self.theme = theme
        self.knobsPath = knobsPath
    }
}

/// The console: its state, one frame's update (`tick`), drawing (`render`) and keys (`handle`, in
/// ConsoleApp+Keys.swift). `run()` drives them against the real terminal; tests drive them directly
/// against a `CellGrid` and a fake engine.
public final class ConsoleApp {
    public enum Focus: String, CaseIterable, Sendable { case dashboard, prompt, tuner, routing }

    let engine: any EngineClient
    let sampler: TelemetrySampler?
    public internal(set) var config: ConsoleConfiguration
    public internal(set) var palette: Palette
    var glyphs: Glyphs
    public internal(set) var focus: Focus = .dashboard
    public internal(set) var showHelp = false
    /// The `:` command line being typed, nil when closed.
    public internal(set) var commandLine: String?
    /// A one-line note in the status bar (command results, errors), until `until`.
    public internal(set) var flash: (text: String, isError: Bool, until: Double)?
    public internal(set) var tuner: Tuner
    public internal(set) var conversation = Conversation()
    public internal(set) var heat = RoutingHeat()
    var throughput = ThroughputTracker()
    var latency = LatencyWindow()
    public internal(set) var stats: EngineStats
    var telemetry: TelemetrySnapshot?
    public internal(set) var quitRequested = false
    let inbox = EventInbox()
    var answerNumber = 0
    /// Esc came before the engine gave the answer an id: abort it as soon as it has one.
    var stopWhenStarted = false
    var now: Double
    let startTime: Double
    var cost = OwnCost()

    public init(engine: any EngineClient, sampler: TelemetrySampler?, config: ConsoleConfiguration, colorMode: ColorMode = .truecolor) {
        self.engine = engine
        self.sampler = sampler
        self.config = config
        palette = Palette(theme: config.theme, mode: colorMode)
        glyphs = config.glyphs
        tuner = Tuner(readOnly: config.readOnly)
        stats = engine.stats()
        now = Monotonic.seconds()
        startTime = now
        if let note = config.startupNote { flash = (note, false, now + 8) }
    }

    /// One frame's update: engine stats, telemetry, and whatever background tasks reported.
    public func tick(now: Double = Monotonic.seconds()) {
        self.now = now
        stats = engine.stats()
        throughput.update(stats, now: now)
        latency.update(stats, now: now)
        heat.update(stats, now: now)
        telemetry = sampler?.snapshot()
        for event in inbox.drain() { apply(event) }
        if let f = flash, f.until < now { flash = nil }
    }

    func apply(_ event: ConsoleEvent) {
        switch event {
        case .answerStarted(let n, let id) where n == answerNumber:
            conversation.activeRequest = id
            if stopWhenStarted { engine.abort(id) }
        case .answerText(let n, let text) where n == answerNumber:
            conversation.receive(text)
        case .answerEnded(let n, let ending) where n == answerNumber:
            conversation.finish(ending)
            stopWhenStarted = false
        case .knobsApplied(let knobs):
            tuner.applying = false
            tuner.pending.removeAll()
            tuner.message = ("applied", false)
            let parts = [("max_num_batched_tokens", knobs.maxNumBatchedTokens), ("max_num_seqs", knobs.maxNumSeqs),
                         ("max_model_len", knobs.maxModelLen)].compactMap { n, v in v.map { "\(n)=\($0)" } }
            say("applied " + parts.joined(separator: " "))
        case .knobsRefused(let reason):
            tuner.applying = false
            tuner.message = ("refused: \(reason)", true)
            say("refused: \(reason)", error: true)
        default:
            break  // an event of an earlier answer
        }
    }

    func say(_ text: String, error: Bool = false, seconds: Double = 6) {
        flash = (text, error, now + seconds)
    }

    /// Runs the console in the terminal until the user quits (q, :q, Ctrl-C). The loop sleeps in the key
    /// read between frames (about 10 per second) and wakes at once on a key.
    public func run() throws {
        let terminal = try Terminal(requestedColor: config.color, noColor: config.noColor, logPath: config.logPath)
        defer {
            terminal.close()
            if let id = conversation.activeRequest { engine.abort(id) }
        }
        palette = Palette(theme: config.theme, mode: terminal.colorMode)
        let grid = CellGrid(width: 0, height: 0)
        while !quitRequested && !terminal.quitSignalled {
            let frameStart = ThreadCPUClock.seconds()
            tick()
            let size = terminal.size
            if grid.width != size.width || grid.height != size.height {
                grid.resize(width: size.width, height: size.height)
                terminal.invalidate()
            }
            render(into: grid)
            terminal.draw(grid)
            cost.add(renderCPU: ThreadCPUClock.seconds() - frameStart)
            if let key = terminal.readKey(timeoutMs: 100) {
                let keyStart = ThreadCPUClock.seconds()
                handle(key)
                // Take every key already waiting (a paste, fast typing) before the next frame.
                while !quitRequested, let more = terminal.readKey(timeoutMs: 0) { handle(more) }
                cost.add(renderCPU: ThreadCPUClock.seconds() - keyStart)
            }
        }
    }
}

/// The console's own CPU cost: time spent drawing and handling keys on the render thread plus the
/// telemetry sampler's thread, as a share of one core over the last few seconds.
struct OwnCost {
    private var renderCPU = 0.0
    private var samples: [(wall: Double, cpu: Double)] = []

    mutating func add(renderCPU seconds: Double) { renderCPU += seconds }

    /// Percent of one core; nil until a second has passed.
    mutating func percent(now: Double, samplerCPU: Double) -> Double? {
        let total = renderCPU + samplerCPU
        samples.append((now, total))
        while let first = samples.first, now - first.wall > 5, samples.count > 2 { samples.removeFirst() }
        guard let first = samples.first, now - first.wall >= 1 else { return nil }
        return (total - first.cpu) / (now - first.wall) * 100
    }
}
