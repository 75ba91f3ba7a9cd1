import ArgumentParser
import Compute
import ComputeGPU
import Engine
import Foundation
import Models

/// Model-level speed on the GPU against the hardware: a decode step at given batch sizes and context
/// lengths, and a prefill, reported as bytes actually read per step / step time (decode is
/// memory-bound) and useful FLOPs / time (prefill is compute-bound). The ceilings to compare with are
/// measured by scripts/gpu-bench.sh in the same run.
struct GPUBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpu-bench",
        abstract: "Time Llama 4 decode steps and prefill on a model and print achieved GB/s and TF/s (a table).",
        discussion: "Decode: every sequence has --context tokens of KV cache; the step runs one token per sequence through the whole model and the output head and samples every row (temperature 1) as the engine does. Bytes read = weights touched (attention, router, shared expert, the experts the step's tokens were routed to, dense MLPs, the head, the embedding rows) + the KV cache read. Prefill: --prefill-prompts prompts of --prefill-tokens tokens each in one step; FLOPs = 2 x active weights x tokens + attention (each prompt's rows see only that prompt).")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .long, parsing: .upToNextOption, help: "Decode batch sizes (concurrent sequences).")
    var batch: [Int] = [1, 64]
    @Option(name: .long, help: "KV context per sequence for decode steps.")
    var context = 1024
    @Option(name: .long, help: "Prompt tokens in the prefill step (0: skip).")
    var prefillTokens = 2048
    @Option(name: .long, help: "Prompts of --prefill-tokens each in the prefill step, as a scheduler packs them into one step under max_num_batched_tokens (4 x 2048 = 8192).")
    var prefillPrompts = 1
    @Option(name: .long, help: "Timed steps per scenario (median reported), after warm-up steps (decode: two, the second captured as a graph).")
    var steps = 10
    @Flag(name: .long, help: "After each scenario, one more step timed by events around every launch: each kernel's share and the device's idle time between launches.")
    var profile = false

    func run() throws {
        let loaded = try modelOptions.load()
        guard let model = loaded.model as? Llama4Model else { throw CLIError("gpu-bench runs Llama 4 models (a checkpoint or synthetic:...)") }
        let c = model.config
        print("model:   \(loaded.name)")
        print("backend: \(model.backend.description)")
        print("")
        print("| scenario              | step ms | tokens/s  | GB read/step | GB/s   | TFLOP/step | TF/s   |")
        print("|-----------------------|---------|-----------|--------------|--------|------------|--------|")
        let matrixBytes = Self.matrixBytes(model)
        var profiles: [(String, Double, KernelProfile?)] = []
        var eagerNotes: [String] = []
        for b in batch where b > 0 {
            let slots = b * (context + 1)
            let cache = model.makeKVCache(slots: slots)
            // Sequence s owns slots s*(context+1) ..< (s+1)*(context+1); each row decodes position `context`.
            let seqSlots = (0..<b).flatMap { s in (0...context).map { Int32(s * (context + 1) + $0) } }
            let rows = (0..<b).map { s in
                AttentionBatch.Row(sequence: Int32(s), contextStart: 0, contextEnd: Int32(context + 1),
                                   writeSlot: Int32(s * (context + 1) + context), position: Int32(context))
            }
            let attentionBatch = AttentionBatch(slots: seqSlots, sequenceSlotOffsets: (0..<b).map { $0 * (context + 1) }, rows: rows)
            let tokens = (0..<b).map { Int32(($0 * 7919 + 13) % min(c.vocabSize, 200_000)) }
            let routing = model.routingShape.map(RoutingCounts.init)
            var times: [Double] = []
            var expertsHit = 0
            // Two warm-up steps: the first runs eagerly, the second is captured as a graph (GPU backends).
            for step in 0...(steps + 1) {
                routing?.reset()
                routing?.isDecodeRow = [Bool](repeating: true, count: b)
                let t0 = DispatchTime.now().uptimeNanoseconds
                decodeStep(model, tokens: tokens, batch: attentionBatch, cache: cache, routing: routing)
                let t1 = DispatchTime.now().uptimeNanoseconds
                if step > 1 { times.append(Double(t1 - t0) / 1e9) }
                if let routing { expertsHit = routing.decode.filter { $0 > 0 }.count }
            }
            let t = times.sorted()[times.count / 2]
            // The same steps without graphs, for the note under the table (what replaying saves).
            if let gpu = model.backend as? GPUBackend, gpu.useStepGraphs {
                gpu.useStepGraphs = false
                var eager: [Double] = []
                for _ in 0..<steps {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    decodeStep(model, tokens: tokens, batch: attentionBatch, cache: cache, routing: routing)
                    eager.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                }
                gpu.useStepGraphs = true
                eagerNotes.append(String(format: "decode %d x ctx %d: %.2f ms a step replayed from a graph, %.2f ms launched eagerly", b, context,
                                         t * 1e3, eager.sorted()[eager.count / 2] * 1e3))
            }
            // Weights touched: everything but the routed experts, plus the experts the tokens went to.
            let weightBytes = matrixBytes.nonExpert + expertsHit * matrixBytes.perExpert + b * c.hiddenSize * matrixBytes.embeddingRowBytes
            let kvBytes = b * (context + 1) * model.kvWidth * 4 * 2 * c.numHiddenLayers
            let bytes = Double(weightBytes + kvBytes)
            let flops = 2 * Double(b) * Double(matrixBytes.activeParameters) + Self.attentionFLOPs(c, rows: b, context: context + 1)
            print(String(format: "| decode %3d x ctx %-5d | %7.2f | %9.1f | %12.3f | %6.0f | %10.3f | %6.1f |", b, context, t * 1e3, Double(b) / t,
                         bytes / 1e9, bytes / t / 1e9, flops / 1e12, flops / t / 1e12))
            if profile {
                profiles.append(("decode \(b) x ctx \(context)", t, profileStep(model) {
                    decodeStep(model, tokens: tokens, batch: attentionBatch, cache: cache, routing: routing)
                }))
            }
        }
        if prefillTokens > 0 && prefillPrompts > 0 {
            let n = prefillTokens, prompts = prefillPrompts, total = n * prompts
            let cache = model.makeKVCache(slots: total)
            let tokens = (0..<total).map { Int32(($0 * 7919 + 13) % min(c.vocabSize, 200_000)) }
            let batch = Self.prefillBatch(prompts: prompts, tokens: n)
            let logitRows = (1...prompts).map { $0 * n - 1 }  // each prompt's last row, as the engine asks
            var times: [Double] = []
            for step in 0...min(steps, 3) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = model.forward(tokens: tokens, batch: batch, cache: cache, logitRows: logitRows)
                let t1 = DispatchTime.now().uptimeNanoseconds
                if step > 0 { times.append(Double(t1 - t0) / 1e9) }
            }
            let t = times.sorted()[times.count / 2]
            // Each token runs the non-expert weights and top-k experts per MoE layer (the head only for the last rows).
            let perToken = Double(matrixBytes.activeParameters - c.vocabSize * c.hiddenSize)
            let flops = 2 * Double(total) * perToken + 2 * Double(prompts * c.vocabSize * c.hiddenSize)
                + Double(prompts) * Self.attentionFLOPs(c, rows: n, context: nil)
            let bytes = Double(matrixBytes.nonExpert + matrixBytes.perExpert * c.experts * c.moeLayerIndices.count)
            let name = prompts == 1 ? "prefill \(n)" : "prefill \(prompts) x \(n)"
            print("| \(name.padding(toLength: 21, withPad: " ", startingAt: 0)) |" + String(format: " %7.1f | %9.1f | %12.3f | %6.0f | %10.3f | %6.1f |",
                                                                                 t * 1e3, Double(total) / t, bytes / 1e9, bytes / t / 1e9, flops / 1e12, flops / t / 1e12))
            if profile {
                profiles.append((name, t, profileStep(model) {
                    _ = model.forward(tokens: tokens, batch: batch, cache: cache, logitRows: logitRows)
                }))
            }
        }
        if let gpu = model.backend as? GPUBackend {
            print("\ndecode-step graphs: \(gpu.useStepGraphs ? "\(gpu.graphStats)" : "off (HERD_GRAPHS=0)")")
            for note in eagerNotes { print(note) }
        }
        Self.printProfiles(profiles)
    }

    /// `prompts` prompts of `tokens` tokens each, whole, in one step: prompt s owns cache slots s * tokens
    /// ..< (s + 1) * tokens and its rows attend causally within it.
    static func prefillBatch(prompts: Int, tokens n: Int) -> AttentionBatch {
        let rows = (0..<prompts).flatMap { s in
            (0..<n).map { i in
                AttentionBatch.Row(sequence: Int32(s), contextStart: 0, contextEnd: Int32(i + 1), writeSlot: Int32(s * n + i), position: Int32(i))
            }
        }
        return AttentionBatch(slots: (0..<Int32(prompts * n)).map { $0 }, sequenceSlotOffsets: (0..<prompts).map { $0 * n }, rows: rows)
    }

    /// A decode step as the engine runs it: the model over the batch, then every row sampled (temperature 1)
    /// from logit summaries on backends that sample on the device, or from the logits read to the host.
    func decodeStep(_ model: Llama4Model, tokens: [Int32], batch: AttentionBatch, cache: KVCache, routing: RoutingCounts?) {
        let rows = tokens.count, vocab = model.vocabularySize
        if model.backend.prefersDeviceSampling {
            guard let logits = model.forwardLogits(tokens: tokens, batch: batch, cache: cache, logitRows: Array(0..<rows), routing: routing)
            else { return }
            let requests = (0..<rows).map { LogitSummaryRequest(temperature: 1, noiseKey: UInt64($0) &* 0x9E37_79B9_7F4A_7C15) }
            _ = model.backend.summarizeLogits(logits, rows: rows, vocabulary: vocab, top: LogitSummary.defaultTopCount, requests: requests)
        } else {
            var sampler = Sampler(SamplingParameters(temperature: 1, seed: 1))
            let logits = model.forward(tokens: tokens, batch: batch, cache: cache, logitRows: Array(0..<rows), routing: routing)
            for r in 0..<rows { _ = sampler.sample(logits[(r * vocab)..<((r + 1) * vocab)]) }
        }
    }

    /// One more step with every launch timed by events (nil when the backend is not a GPU).
    func profileStep(_ model: Llama4Model, _ step: () -> Void) -> KernelProfile? {
        guard let gpu = model.backend as? GPUBackend else { return nil }
        gpu.profile = KernelProfile()
        step()
        return gpu.finishProfile()
    }

    /// Each profiled scenario's kernels by device time (share of the kernels' sum) and the device's idle
    /// time between launches (gaps: launch overhead, host work the GPU waited for).
    static func printProfiles(_ profiles: [(String, Double, KernelProfile?)]) {
        for (scenario, stepSeconds, profile) in profiles {
            guard let profile else { print("\n\(scenario): no kernel profile (not a GPU backend)"); continue }
            let total = profile.totalSeconds
            print(String(format: "\n%@: a %.2f ms step: kernels %.2f ms, device idle between launches %.2f ms (%.0f%%), first launch to last %.2f ms",
                         scenario, stepSeconds * 1e3, total * 1e3, profile.gapSeconds * 1e3, 100 * profile.gapSeconds / max(profile.spanSeconds, 1e-9),
                         profile.spanSeconds * 1e3))
            print("| kernel                    | launches | ms      | share  |")
            print("|---------------------------|----------|---------|--------|")
            for e in profile.byTime.prefix(14) {
                let name = e.name.padding(toLength: max(25, e.name.count), withPad: " ", startingAt: 0)
                print("| \(name) |" + String(format: " %8d | %7.3f | %5.1f%% |", e.launches, e.seconds * 1e3, 100 * e.seconds / total))
            }
        }
    }

    /// Bytes of the model's matrices by role, at the dtype the backend holds them in (FP8 = 1, BF16 = 2, F32 = 4).
    struct MatrixBytes {
        var nonExpert = 0            // attention, routers, shared experts, dense MLPs, norms, the head
        var perExpert = 0            // one routed expert (gate + up + down)
        var embeddingRowBytes = 0    // per hidden element of an embedding row
        var activeParameters = 0     // per token: non-expert matrices + top-k experts per MoE layer + the head
    }

    static func matrixBytes(_ model: Llama4Model) -> MatrixBytes {
        let c = model.config, h = c.hiddenSize, d = c.resolvedHeadDim
        let width = model.matrixDType.blockBytes, unquantized = model.matrixDType == .f32 ? 4 : 2
        var m = MatrixBytes()
        let attention = h * (c.numAttentionHeads * d) * 2 + h * (c.kvHeads * d) * 2
        let expert = 3 * h * c.intermediateSize
        var active = 0
        for layer in 0..<c.numHiddenLayers {
            m.nonExpert += attention * width
            active += attention
            if c.isMoE(layer) {
                m.nonExpert += expert * width + c.experts * h * unquantized
                active += expert * (1 + c.expertsPerToken) + c.experts * h
            } else {
                m.nonExpert += 3 * h * c.denseIntermediateSize * width
                active += 3 * h * c.denseIntermediateSize
            }
        }
        m.nonExpert += c.vocabSize * h * unquantized
        active += c.vocabSize * h
        m.perExpert = expert * width
        m.embeddingRowBytes = unquantized
        m.activeParameters = active
        return m
    }

    /// QK^T and PV FLOPs: decode rows see `context` keys; a prefill row at position p sees p + 1 (within its
    /// chunk on chunked layers).
    static func attentionFLOPs(_ c: Llama4Config, rows: Int, context: Int?) -> Double {
        var keys = 0.0
        for layer in 0..<c.numHiddenLayers {
            if let context { keys += Double(rows * context); continue }
            for p in 0..<rows {
                let chunk = c.isChunked(layer) ? (c.attentionChunkSize ?? rows) : rows
                keys += Double(p % chunk + 1)
            }
        }
        return 4 * Double(c.numAttentionHeads * c.resolvedHeadDim) * keys
    }
}
