import Bench
import ComputeCPU
import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import Models
import Scheduler
import Server
import TestSupport
import Testing

struct BenchMetricsTests {
    static func record(start: Double, ttft: Double, itl: [Double], tokens: Int, prompt: Int = 10) -> RequestRecord {
        var r = RequestRecord()
        r.success = true
        r.start = start
        r.ttft = ttft
        r.itl = itl
        r.outputTokens = tokens
        r.promptLength = prompt
        r.latency = ttft + itl.reduce(0, +)
        return r
    }

    @Test func metricsFollowVLLMDefinitions() {
        var failed = RequestRecord()
        failed.error = "boom"
        let records = [
            Self.record(start: 0, ttft: 0.1, itl: [0.2, 0.3], tokens: 3),
            Self.record(start: 0.5, ttft: 0.3, itl: [0.1], tokens: 2, prompt: 20),
            failed,
        ]
        let r = BenchResult(records: records, duration: 2)
        #expect(r.completed == 2 && r.failed == 1)
        #expect(r.totalInput == 30 && r.totalOutput == 5)
        #expect(r.outputThroughput == 2.5 && r.requestThroughput == 1)
        // TPOT per request: (latency - ttft) / (n - 1): (0.5 / 2, 0.1 / 1) in ms.
        let tpot = r.samples["tpot"]!.map { ($0 * 1000).rounded() / 1000 }
        #expect(tpot == [250, 100])
        // ITL pools every gap of every request.
        #expect(r.samples["itl"]!.map { $0.rounded() } == [200, 300, 100])
        #expect(abs(BenchResult.mean(r.samples["ttft"]!) - 200) < 1e-9)
        // NumPy percentile, linear interpolation: p50 of [100, 200, 300] = 200, p99 = 298.
        #expect(abs(BenchResult.percentile([300, 100, 200], 99) - 298) < 1e-9)
        #expect(BenchResult.percentile([], 99) == 0)
        #expect(abs(BenchResult.std([1, 3]) - 1) < 1e-12)
        // Token chunks at t = 0.1, 0.3, 0.6 (request 1) and 0.8, 0.9 (request 2): all in second 0.
        #expect(r.peakOutputThroughput == 5)
        #expect(r.peakConcurrentRequests == 2)
    }

    @Test func tableMatchesVLLMLayout() {
        let r = BenchResult(records: [Self.record(start: 0, ttft: 0.1, itl: [0.2], tokens: 2)], duration: 1)
        let text = BenchTable(maxConcurrency: 64, requestRate: .infinity, metrics: ["ttft", "tpot", "itl", "e2el"], percentiles: [99, 99.9]).render(r)
        let lines = text.components(separatedBy: "\n")
        #expect(lines.first == "============ Serving Benchmark Result ============")
        #expect(lines.first?.count == 50 && lines.last == String(repeating: "=", count: 50))
        #expect(lines.contains("Successful requests:                     1         "))
        #expect(lines.contains("Maximum request concurrency:             64        "))
        #expect(!text.contains("Request rate configured"))
        #expect(lines.contains("---------------Time to First Token----------------"))
        #expect(lines.contains("-----Time per Output Token (excl. 1st token)------"))
        #expect(lines.contains("P99.9 ITL (ms):                          200.00    "))
        #expect(lines.contains("Mean TTFT (ms):                          100.00    "))
    }

    @Test func randomDatasetHasTheRequestedShape() throws {
        let m = try ModelLoader.load(path: TestModels.smolLM2Path(), backend: CPUBackend(threads: 1))
        let d = RandomDataset(inputLength: 100, outputLength: 20, rangeRatio: 0.5, prefixLength: 8, seed: 3)
        let prompts = d.sample(count: 20, tokenizer: m.tokenizer)
        #expect(prompts.count == 20)
        for p in prompts {
            #expect((8 + 50)...(8 + 150) ~= p.promptLength, "prompt length \(p.promptLength)")
            #expect((10...30).contains(p.outputLength))
        }
        #expect(prompts.map(\.text) == d.sample(count: 20, tokenizer: m.tokenizer).map(\.text), "same seed, same prompts")
        let exact = RandomDataset(inputLength: 64, outputLength: 8, seed: 1).sample(count: 10, tokenizer: m.tokenizer)
        #expect(exact.filter { $0.promptLength == 64 }.count >= 8, "re-encoding should hit the target length")
    }
}

/// `herd bench` against Herd's engine in process and over HTTP: hundreds of requests with knobs small
/// enough to force chunked prefill and preemption; nothing is lost and the counts add up.
struct BenchRunTests {
    static func engine(blocks: Int) throws -> (Engine, LoadedModel) {
        var shape = TinyLlama.Shape()
        shape.context = 512
        let m = try ModelLoader.load(path: TinyLlama.writer(shape).write(name: "bench"), backend: CPUBackend(threads: 2))
        let core = try EngineCore(model: m.model, tokenizer: m.tokenizer, chatFormat: m.chatFormat,
                                  config: SchedulerConfig(maxNumBatchedTokens: 48, maxNumSeqs: 16, maxModelLen: 256),
                                  kvCacheBytes: EngineCore.bytesPerBlock(model: m.model, blockSize: 16) * blocks)
        return (Engine(core: core, modelName: "tiny"), m)
    }

    @Test func inProcessRunCompletesEveryRequest() async throws {
        let (engine, m) = try Self.engine(blocks: 30)
        defer { engine.shutdown() }
        let prompts = RandomDataset(inputLength: 40, outputLength: 12, rangeRatio: 0.5, seed: 7).sample(count: 200, tokenizer: m.tokenizer)
        var runner = BenchRunner(target: .engine(engine))
        runner.maxConcurrency = 64
        let r = await runner.run(prompts)
        #expect(r.completed == 200 && r.failed == 0)
        #expect(r.totalOutput == prompts.reduce(0) { $0 + $1.outputLength })
        let s = engine.stats()
        #expect(s.generationTokens == r.totalOutput)
        #expect(s.promptTokens == r.totalInput)
        #expect(s.requestsFinished[.length] == 200)
        #expect(s.preemptions > 0, "a 30-block cache under 64 concurrent requests should preempt")
        #expect(s.kvBlocksUsed == 0)
    }

    @Test func httpRunAgainstHerdServeMatchesServerCounters() async throws {
        let (engine, m) = try Self.engine(blocks: 60)
        defer { engine.shutdown() }
        let served = ServedModel(name: "tiny", tokenizer: m.tokenizer, chatFormat: m.chatFormat, engine: engine)
        let server = OpenAIServer(model: served, options: ServerOptions(port: 0),
                                  metrics: PrometheusExporter(modelName: "tiny", stats: { engine.stats() }, recorder: engine.statsRecorder))
        let app = Application(router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        let prompts = RandomDataset(inputLength: 30, outputLength: 6, seed: 2).sample(count: 40, tokenizer: m.tokenizer)
        try await app.test(.live) { client in
            var runner = BenchRunner(target: .http(baseURL: "http://127.0.0.1:\(client.port!)", model: "tiny", apiKey: nil))
            runner.maxConcurrency = 24
            let r = await runner.run(prompts)
            #expect(r.completed == 40, "\(r.errors.prefix(3))")
            let s = engine.stats()
            #expect(s.requestsFinishedTotal == 40)
            #expect(s.generationTokens == r.totalOutput)
            #expect(s.promptTokens == r.totalInput)
        }
    }
}
