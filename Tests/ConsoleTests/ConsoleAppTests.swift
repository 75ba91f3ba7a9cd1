@testable import Console
@testable import Engine
import Foundation
import Models
import Scheduler
import Telemetry
import Testing
import Tokenizer

/// The whole console against a fake engine and an in-memory grid: keys in, cells out.
struct ConsoleAppTests {
    static func tempPath(_ name: String) -> String {
        NSTemporaryDirectory() + "herd-console-test-\(UInt32.random(in: 0...UInt32.max))-\(name)"
    }

    func makeApp(_ engine: FakeEngine = FakeEngine(), readOnly: Bool = false, sampler: TelemetrySampler? = nil,
                 knobsPath: String = tempPath("knobs.json")) -> ConsoleApp {
        var config = ConsoleConfiguration(modelName: "tiny", backend: "cpu", chatFormat: .chatML(defaultSystem: nil),
                                          theme: Theme.builtIn[0], knobsPath: knobsPath)
        config.readOnly = readOnly
        return ConsoleApp(engine: engine, sampler: sampler, config: config)
    }

    func screen(_ app: ConsoleApp, _ w: Int = 100, _ h: Int = 40) -> String {
        app.tick()
        let grid = CellGrid(width: w, height: h)
        app.render(into: grid)
        return grid.text
    }

    func type(_ app: ConsoleApp, _ text: String) { for ch in text { app.handle(.char(ch)) } }

    @Test func everySizeRendersWithoutCrashingAndSmallOnesDropPanes() {
        let app = makeApp()
        for (w, h) in [(0, 0), (1, 1), (5, 2), (15, 3), (16, 3), (20, 5), (40, 10), (80, 24), (119, 30), (120, 30), (200, 60), (300, 90)] {
            let grid = CellGrid(width: w, height: h)
            app.tick()
            app.render(into: grid)
            #expect(grid.width == w)
        }
        let big = screen(app, 200, 60)
        for title in ["GPUs", "Batch", "Throughput", "Expert routing", "Prompt", "Tuner"] { #expect(big.contains(" \(title) "), "\(title) missing at 200x60") }
        let small = screen(app, 60, 12)
        #expect(small.contains(" Prompt "))
        #expect(!small.contains(" Expert routing "))  // the lowest priority pane went first
        #expect(screen(app, 10, 2).contains("herd"))
    }

    @Test func batchPaneShowsTheSchedulerDenominators() {
        let engine = FakeEngine()
        engine.update { s in
            s.running = 3; s.waiting = 5; s.preemptions = 2
            s.lastStepTokens = 40; s.lastStepPrefillTokens = 30; s.lastStepDecodeTokens = 10
            s.kvBlocksUsed = 120; s.kvBlocksTotal = 480
        }
        let text = screen(makeApp(engine))
        #expect(text.contains("3/64 running · 5 waiting · 2 preempted"))
        #expect(text.contains("40/2048 · prefill 75% decode 25%"))
        #expect(text.contains("120/480"))
    }

    @Test func routingPaneSaysWhenTheModelIsDense() {
        #expect(screen(makeApp()).contains("dense model: no MoE layers"))
    }

    @Test func routingHeatMapShowsAHotExpertAndBalance() {
        let engine = FakeEngine()
        let shape = RoutingShape(moeLayers: [1, 3, 5, 7], experts: 16)
        engine.update { s in
            s.routingShape = shape
            s.routingPrefill = Array(repeating: 0, count: 64)
            s.routingDecode = Array(repeating: 0, count: 64)
        }
        let app = makeApp(engine)
        app.tick(now: 100)
        engine.update { s in
            for layer in 0..<4 { for e in 0..<16 { s.routingDecode[layer * 16 + e] = e == 5 ? 160 : 10 } }
        }
        app.tick(now: 101)
        let ratios = try! #require(app.heat.ratios(layer: 0))
        #expect(abs(ratios[5] - 160.0 / 310 * 16) < 1e-9)
        #expect(abs(ratios.reduce(0, +) - 16) < 1e-9)
        let grid = CellGrid(width: 100, height: 60)
        app.render(into: grid)
        let text = grid.text
        #expect(text.contains("4x16 · all"))
        #expect(text.contains("×8.3"))  // 160/310*16 = 8.26: the hot expert's ratio to the mean
        // The hot expert's cell is the hottest colour (and layers 1 and 3 share a row of half blocks).
        let row = try! #require((0..<grid.height).first { grid.text(row: $0).hasPrefix("L1 ") })
        let hot = grid[5 + 5, row], cold = grid[5 + 4, row]
        #expect(hot.character == "▀")
        #expect(hot.style.fg == app.palette.theme.gradient("heat").at(1))
        #expect(cold.style.fg != hot.style.fg)
        // Prefill only: nothing was routed in prefill, so those cells are dormant.
        app.handle(.char("m"))
        #expect(app.heat.mode == .prefill)
        #expect(app.heat.ratios(layer: 0) == nil)
    }

    @Test func heatMapFoldsExpertsToFitNarrowPanes() {
        let engine = FakeEngine()
        engine.update { s in
            s.routingShape = RoutingShape(moeLayers: Array(0..<24), experts: 128)
            s.routingPrefill = Array(repeating: 0, count: 24 * 128)
            s.routingDecode = s.routingPrefill
        }
        let app = makeApp(engine)
        let text = screen(app, 80, 60)
        #expect(text.contains("24x128"))
        #expect(text.contains("2 experts/cell"))
    }

    @Test func tunerStepsTypesAppliesAndShowsPending() async {
        let engine = FakeEngine()
        let app = makeApp(engine)
        app.handle(.char("t"))
        #expect(app.focus == .tuner)
        app.handle(.right)  // max_num_batched_tokens + 256
        #expect(app.tuner.pending[.maxNumBatchedTokens] == 2304)
        #expect(screen(app).contains("→ 2304 (pending)"))
        app.handle(.down); app.handle(.down)  // max_num_seqs
        for d in "32" { app.handle(.char(d)) }
        app.handle(.enter)
        #expect(await eventually { app.tick(); return engine.stats().config.maxNumSeqs == 32 && !app.tuner.applying })
        #expect(engine.stats().config.maxNumBatchedTokens == 2304)
        #expect(app.tuner.pending.isEmpty)
        #expect(screen(app).contains("applied"))
    }

    @Test func tunerShowsTheEnginesReasonForARefusal() async {
        let engine = FakeEngine()
        let app = makeApp(engine)
        app.handle(.char(":"))
        type(app, "set max_model_len 100000")
        app.handle(.enter)
        #expect(await eventually { app.tick(); return !app.tuner.applying })
        #expect(engine.stats().config.maxModelLen == 4096)
        let text = screen(app, 160, 40)
        #expect(text.contains("refused: max_model_len 100000 is larger than the model's context length 8192"))
    }

    @Test func commandLineRejectsUnknownKnobsAndBadValues() {
        let app = makeApp()
        app.run(command: "set max_batch 3")
        #expect(app.flash?.text.contains("unknown knob") == true)
        app.run(command: "set max-num-seqs lots")
        #expect(app.flash?.text.contains("not a whole number") == true)
        app.run(command: "frobnicate")
        #expect(app.flash?.isError == true)
    }

    @Test func readOnlyRefusesChanges() async {
        let engine = FakeEngine()
        let app = makeApp(engine, readOnly: true)
        app.handle(.char("t"))
        app.handle(.right)
        #expect(app.tuner.pending.isEmpty)
        #expect(app.flash?.text.contains("read-only") == true)
        app.run(command: "set max_num_seqs 8")
        try? await Task.sleep(for: .milliseconds(50))
        #expect(engine.knobCalls == 0)
        #expect(screen(app).contains("read-only"))
    }

    @Test func saveWritesTheKnobsAndSaysWhere() throws {
        let path = Self.tempPath("dir/knobs.json")
        let app = makeApp(knobsPath: path)
        app.handle(.char("t"))
        app.handle(.char("s"))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let saved = try #require(try KnobStore.load(path: path))
        #expect(saved == SavedKnobs(maxNumBatchedTokens: 2048, maxNumSeqs: 64, maxModelLen: 4096))
        #expect(app.flash?.text.contains(path) == true)
        let json = try String(contentsOfFile: path, encoding: .utf8)
        #expect(json.contains("\"max_num_batched_tokens\" : 2048"))
    }

    @Test func knobStoreFollowsXDGConfigHome() {
        #expect(KnobStore.defaultPath(environment: ["XDG_CONFIG_HOME": "/x/cfg", "HOME": "/h"]) == "/x/cfg/herd/knobs.json")
        #expect(KnobStore.defaultPath(environment: ["HOME": "/h"]) == "/h/.config/herd/knobs.json")
        #expect(KnobStore.defaultPath(environment: ["XDG_CONFIG_HOME": "relative", "HOME": "/h"]) == "/h/.config/herd/knobs.json")
    }

    @Test func promptStreamsTheAnswerInTheChatFormatAndEscStopsIt() async {
        let engine = FakeEngine()
        let app = makeApp(engine)
        app.handle(.enter)
        #expect(app.focus == .prompt)
        type(app, "hello?")
        app.handle(.enter)
        #expect(await eventually { engine.requests.count == 1 })
        guard case .text(let prompt) = engine.requests[0].prompt else { Issue.record("not a text prompt"); return }
        #expect(prompt == "<|im_start|>user\nhello?<|im_end|>\n<|im_start|>assistant\n")
        #expect(engine.requests[0].addBOS == false)
        #expect(await eventually { app.tick(); return app.conversation.activeRequest == 1 })
        engine.answer(1, "Hi there")
        #expect(await eventually { app.tick(); return app.conversation.turns.last?.text == "Hi there" })
        #expect(screen(app).contains(" model Hi there"))
        // Typing during the answer is allowed; sending is not, until it ends.
        type(app, "more")
        app.handle(.enter)
        #expect(engine.requests.count == 1)
        app.handle(.escape)
        #expect(engine.aborted == [1])
        #expect(await eventually { app.tick(); return !app.conversation.streaming })
        #expect(app.conversation.turns.last?.ending == "stopped")
        #expect(screen(app).contains("[stopped]"))
        // The next message carries the conversation so far.
        app.handle(.enter)
        #expect(await eventually { engine.requests.count == 2 })
        guard case .text(let second) = engine.requests[1].prompt else { return }
        #expect(second.contains("hello?") && second.contains("Hi there") && second.contains("more"))
    }

    @Test func helpOverlayOpensAndAnyKeyClosesIt() {
        let app = makeApp()
        app.handle(.char("?"))
        #expect(screen(app).contains(":set NAME VALUE"))
        app.handle(.char("x"))
        #expect(!app.showHelp)
    }

    @Test func themeSwitchChangesColoursAndNoColourUsesAttributes() {
        let app = makeApp()
        let before = app.palette.base
        app.handle(.char("c"))
        #expect(app.config.theme.name == "light")
        #expect(app.palette.base != before)
        app.run(command: "theme basic")
        #expect(app.config.theme.name == "basic")
        let mono = Palette(theme: Theme.builtIn[0], mode: .none)
        #expect(mono.base.fg == nil && mono.base.bg == nil)
        #expect(mono.selected.reverse)
    }

    @Test func latencyPercentilesCoverTheRecentWindow() {
        let engine = FakeEngine()
        let app = makeApp(engine)
        app.tick(now: 10)
        engine.update { s in
            for i in 1...10 {
                s.recent.append(RequestMetrics(reason: .stop, promptTokens: 5, outputTokens: 3, queueSeconds: 0,
                                               ttftSeconds: Double(i) / 100, e2eSeconds: 1, interTokenSeconds: [0.02, 0.03]))
            }
            s.finishedCount = 10
        }
        app.tick(now: 11)
        #expect(app.latency.ttft == LatencyWindow.Percentiles(p50: 0.05, p90: 0.09, p99: 0.10))
        #expect(app.latency.interToken?.p50 == 0.02)
        let grid = CellGrid(width: 100, height: 40)
        app.render(into: grid)
        #expect(grid.text.contains("TTFT p50 50ms p90 90ms p99 100ms"))
        app.tick(now: 80)  // past the 60 s window
        #expect(app.latency.ttft == nil)
    }

    @Test func throughputIsARateOverTime() {
        var t = ThroughputTracker()
        var s = FakeEngine().stats()
        t.update(s, now: 0)
        s.generationTokens = 50; s.promptTokens = 400
        t.update(s, now: 1)
        let r = try! #require(t.rates)
        #expect(r.generation == 50 && r.prompt == 400)
        #expect(t.generationHistory == [50])
    }

    @Test func gpuPaneFitsEightGPUsAndShowsDashesForMissingReadings() {
        final class EightGPUs: TelemetrySource {
            let name = "fake", isGPU = true
            func read() throws(TelemetryUnavailable) -> [DeviceReading] {
                (0..<8).map { i in
                    DeviceReading(index: i, name: "MI300X", memoryUsedBytes: UInt64(150) << 30, memoryTotalBytes: UInt64(192) << 30,
                                  powerWatts: i == 3 ? nil : 540, powerCapWatts: 750, utilization: 0.87, temperatureCelsius: 65)
                }
            }
        }
        let sampler = TelemetrySampler(interval: 0.05, factories: [
            .init(name: "fake", isGPU: true) { EightGPUs() },
            .init(name: "nvml", isGPU: true) { throw TelemetryUnavailable("libnvidia-ml.so.1 not loadable") },
        ])
        sampler.start()
        defer { sampler.stop() }
        let app = makeApp(sampler: sampler)
        var text = ""
        for _ in 0..<100 {
            text = screen(app, 200, 60)
            if text.contains(" 7 MI300X") { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        for i in 0..<8 { #expect(text.contains("\(i) MI300X")) }
        #expect(text.contains("150.0G/192.0G"))
        #expect(text.contains("540/750W"))
        #expect(text.contains("--/750W"))  // GPU 3's power could not be read
        #expect(text.contains("65°C"))
        #expect(text.contains("nvml: not available: libnvidia-ml.so.1 not loadable"))
    }
}
