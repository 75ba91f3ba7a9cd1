import ArgumentParser
import Compute
import Engine
import Foundation
import Models

struct Speed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure prompt processing and generation speed of the model on this machine (prints a table).",
        discussion: """
            One sequence, as llama.cpp's llama-bench measures it: a prompt of --prompt-tokens random token ids \
            in one batch (pp), and --gen-tokens tokens generated one at a time into an empty cache (tg; \
            --gen-start puts that many tokens of context in the cache first).

            --concurrency N (repeatable): N requests of --prompt-tokens random ids and --gen-tokens outputs \
            each, all submitted at once to the batching engine (scheduler, sampling at temperature 1 as \
            `herd bench` does, detokenizing), as llama.cpp's llama-batched-bench measures it: prompt tokens/s \
            until every request has its first token, then generation tokens/s summed over the sequences \
            while they all decode (llama-batched-bench's S_TG), and output tokens/s over the whole run.

            Each figure is the median of --repeat runs; the table ends with the process's peak resident memory.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var engineOptions: EngineOptions
    @Option(name: .long, help: "Prompt length in tokens.")
    var promptTokens = 512
    @Option(name: .long, help: "Tokens to generate.")
    var genTokens = 128
    @Option(name: .long, help: "Tokens of context in the cache before the one-sequence generation starts.")
    var genStart = 0
    @Option(name: .long, help: "Also measure N concurrent requests through the engine (repeatable, e.g. --concurrency 4 --concurrency 64).")
    var concurrency: [Int] = []
    @Flag(name: .long, help: "Only the --concurrency runs (skip the one-sequence pp/tg).")
    var batchedOnly = false
    @Option(name: .long, help: "Repetitions (the median is reported).")
    var `repeat` = 3

    func run() throws {
        let loaded = try modelOptions.load()
        let model = loaded.model
        guard promptTokens >= 1, genTokens >= 1, genStart >= 0, `repeat` >= 1,
              max(promptTokens, genStart) + genTokens <= model.contextLength
        else {
            throw CLIError("need 1 <= prompt (or --gen-start) + generated tokens <= \(model.contextLength) and --repeat >= 1")
        }
        guard concurrency.allSatisfy({ $0 >= 1 }) else { throw CLIError("--concurrency must be at least 1") }
        var rng = SeededGenerator(seed: 1)
        func randomTokens(_ n: Int) -> [Int32] { (0..<n).map { _ in Int32(rng.next() % UInt64(min(model.vocabularySize, 32000))) } }

        print("model:   \(loaded.name)")
        print("backend: \(model.backend.description)")
        print("")
        print("| test                     | tokens/s (median of \(`repeat`)) |")
        print("|--------------------------|-----------------------|")
        if !batchedOnly {
            let prompt = randomTokens(promptTokens)
            let context = randomTokens(genStart)
            let first = randomTokens(1)[0]
            var pp: [Double] = [], tg: [Double] = []
            for _ in 0..<`repeat` {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = model.forward(tokens: prompt, batch: .contiguous(start: 0, count: promptTokens),
                                  cache: model.makeKVCache(slots: promptTokens), logitRows: [promptTokens - 1])
                let t1 = DispatchTime.now().uptimeNanoseconds
                pp.append(Double(promptTokens) / (Double(t1 - t0) / 1e9))

                let cache = model.makeKVCache(slots: genStart + genTokens)
                if genStart > 0 {
                    _ = model.forward(tokens: context, batch: .contiguous(start: 0, count: genStart), cache: cache, logitRows: [])
                }
                var sampler = Sampler(.greedy)
                var token = first
                let t2 = DispatchTime.now().uptimeNanoseconds
                for i in 0..<genTokens {
                    let logits = model.forward(tokens: [token], batch: .contiguous(start: genStart + i, count: 1), cache: cache,
                                               logitRows: [0])
                    token = Int32(sampler.sample(logits[...]))
                }
                let t3 = DispatchTime.now().uptimeNanoseconds
                tg.append(Double(genTokens) / (Double(t3 - t2) / 1e9))
            }
            row("prompt pp\(promptTokens)", median(pp))
            row("generate tg\(genTokens)" + (genStart > 0 ? " @ \(genStart)" : ""), median(tg))
        }
        for n in concurrency {
            var runs: [BatchedRun] = []
            for _ in 0..<`repeat` {
                let core = try engineOptions.makeEngineCore(loaded)
                let prompts = (0..<n).map { _ in randomTokens(promptTokens) }
                runs.append(try BatchedRun.measure(core: core, prompts: prompts, genTokens: genTokens))
            }
            row("batched \(n): prompt", median(runs.map(\.promptRate)))
            row("batched \(n): generate", median(runs.map(\.generateRate)))
            row("batched \(n): output", median(runs.map(\.outputRate)))
        }
        print(String(format: "| peak RSS                 | %17.1f MiB |", Double(peakResidentKiB()) / 1024))
    }

    func median(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }

    func row(_ label: String, _ value: Double) {
        print("| " + label.padding(toLength: 24, withPad: " ", startingAt: 0) + " | " + String(format: "%21.1f", value) + " |")
    }
}

/// One run of concurrent requests through the engine, timed by phase.
struct BatchedRun {
    /// Prompt tokens / time until every request had its first token.
    var promptRate: Double
    /// Tokens generated after that / the time they took: all sequences decoding together.
    var generateRate: Double
    /// All output tokens / the whole run.
    var outputRate: Double

    static func measure(core: EngineCore, prompts: [[Int32]], genTokens: Int) throws -> BatchedRun {
        for p in prompts {
            _ = try core.add(EngineRequest(prompt: .tokens(p), maxTokens: genTokens, ignoreEOS: true, addBOS: false))
        }
        var started = Set<Int>()
        var tokens = 0, decodeTokens = 0
        let t0 = DispatchTime.now().uptimeNanoseconds
        var decodeStart: UInt64?
        while core.hasWork {
            let outputs = core.step()
            for o in outputs where !o.newTokens.isEmpty {
                tokens += o.newTokens.count
                if decodeStart != nil { decodeTokens += o.newTokens.count } else { started.insert(o.requestID) }
            }
            if decodeStart == nil && started.count == prompts.count { decodeStart = DispatchTime.now().uptimeNanoseconds }
        }
        let t1 = DispatchTime.now().uptimeNanoseconds
        let prefill = Double((decodeStart ?? t1) - t0) / 1e9
        let decode = Double(t1 - (decodeStart ?? t1)) / 1e9
        return BatchedRun(promptRate: Double(prompts.reduce(0) { $0 + $1.count }) / prefill,
                          generateRate: decode > 0 ? Double(decodeTokens) / decode : 0,
                          outputRate: Double(tokens) / (Double(t1 - t0) / 1e9))
    }
}

/// The process's peak resident set size (VmHWM), in KiB; 0 where /proc is unavailable.
func peakResidentKiB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return 0
}
