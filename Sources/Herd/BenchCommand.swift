import ArgumentParser
import Bench
import Engine
import Foundation
import Models

/// Options of `vllm bench serve` that the MI300X study's runs use.
struct BenchOptions: ParsableArguments {
    @Option(name: .long, help: "Dataset: only 'random' (synthetic token prompts) is supported.")
    var datasetName = "random"
    @Option(name: [.customLong("random-input-len"), .customLong("input-len")], help: "Prompt length in tokens.")
    var randomInputLen = 1024
    @Option(name: [.customLong("random-output-len"), .customLong("output-len")], help: "Output length in tokens.")
    var randomOutputLen = 128
    @Option(name: .long, help: "Lengths are drawn from [L*(1-r), L*(1+r)].")
    var randomRangeRatio = 0.0
    @Option(name: .long, help: "A shared prefix of this many tokens before every prompt.")
    var randomPrefixLen = 0
    @Option(name: .long, help: "Number of requests.")
    var numPrompts = 1000
    @Option(name: .long, help: "Most requests in flight at once (client side).")
    var maxConcurrency: Int?
    @Option(name: .long, help: "Requests per second (Poisson arrivals), or inf to send all at once.")
    var requestRate = "inf"
    @Option(name: .long, help: "Burstiness of arrivals (1 = Poisson).")
    var burstiness = 1.0
    @Flag(name: .long, help: "Send ignore_eos (always on for the random dataset, as in vLLM 0.33).")
    var ignoreEOS = false
    @Option(name: .long, help: "Metrics to report: a comma list of ttft, tpot, itl, e2el.")
    var percentileMetrics = "ttft,tpot,itl"
    @Option(name: .long, help: "Percentiles to report, e.g. 50,90,99.")
    var metricPercentiles = "99"
    @Option(name: .long, help: "Random seed for the dataset and arrivals.")
    var seed: UInt64 = 0
    @Option(name: .long, help: "Benchmark an OpenAI-compatible server at this URL (e.g. http://127.0.0.1:8000) instead of the in-process engine.")
    var baseURL: String?
    @Option(name: .long, help: "Model name to send with --base-url (default: the first of the server's /v1/models).")
    var servedModelName: String?
    @Flag(name: .long, help: "Save the results as JSON.")
    var saveResult = false
    @Option(name: .long, help: "Folder for --save-result.")
    var resultDir = "."
    @Option(name: .long, help: "File name for --save-result.")
    var resultFilename: String?

    var rate: Double { requestRate == "inf" ? .infinity : Double(requestRate) ?? .infinity }

    func validate() throws {
        guard datasetName == "random" else { throw ValidationError("--dataset-name: only 'random' is supported") }
        guard requestRate == "inf" || (Double(requestRate).map { $0 > 0 } ?? false) else {
            throw ValidationError("--request-rate must be a positive number or inf")
        }
        guard numPrompts >= 1, randomInputLen >= 1, randomOutputLen >= 1 else { throw ValidationError("lengths and --num-prompts must be at least 1") }
        guard (0..<1).contains(randomRangeRatio) else { throw ValidationError("--random-range-ratio must be in [0, 1)") }
        for m in metrics where !["ttft", "tpot", "itl", "e2el"].contains(m) {
            throw ValidationError("--percentile-metrics: unknown metric '\(m)' (ttft, tpot, itl, e2el)")
        }
        if let c = maxConcurrency, c < 1 { throw ValidationError("--max-concurrency must be at least 1") }
    }

    var metrics: [String] { percentileMetrics.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
    var percentiles: [Double] { metricPercentiles.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) } }
}

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark serving like `vllm bench serve`: in process against Herd's engine, or any OpenAI-compatible server with --base-url.",
        subcommands: [Run.self, Sweep.self],
        defaultSubcommand: Run.self)

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One benchmark run; prints vLLM's result table.")
        @OptionGroup var modelOptions: ModelOptions
        @OptionGroup var engineOptions: EngineOptions
        @OptionGroup var bench: BenchOptions

        func run() async throws {
            let setup = try BenchSetup(modelOptions: modelOptions, engineOptions: engineOptions, bench: bench)
            defer { setup.engine?.shutdown() }
            let result = try await setup.run(inputLength: bench.randomInputLen, outputLength: bench.randomOutputLen)
            print(setup.table.render(result))
            if bench.saveResult { try setup.save(result) }
        }
    }

    struct Sweep: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a list of ISL:OSL pairs (default: the MI300X study's five) and print one summary table.")
        @OptionGroup var modelOptions: ModelOptions
        @OptionGroup var engineOptions: EngineOptions
        @OptionGroup var bench: BenchOptions
        @Option(name: .long, help: "Comma list of input:output lengths.")
        var pairs = "2000:150,1000:1000,5000:1000,10000:1000,3200:800"

        func run() async throws {
            let setup = try BenchSetup(modelOptions: modelOptions, engineOptions: engineOptions, bench: bench)
            defer { setup.engine?.shutdown() }
            var rows: [String] = []
            for pair in pairs.split(separator: ",") {
                let parts = pair.split(separator: ":").compactMap { Int($0) }
                guard parts.count == 2, parts[0] > 0, parts[1] > 0 else { throw CLIError("--pairs: cannot read '\(pair)' as ISL:OSL") }
                FileHandle.standardError.write(Data("== ISL \(parts[0]) OSL \(parts[1]) ==\n".utf8))
                let r = try await setup.run(inputLength: parts[0], outputLength: parts[1])
                rows.append(String(format: "| %5d:%-5d | %4d/%-4d | %10.1f | %10.1f | %10.1f | %10.1f | %10.1f |", parts[0], parts[1],
                                   r.completed, r.completed + r.failed, r.outputThroughput, r.totalTokenThroughput,
                                   BenchResult.percentile(r.samples["ttft"] ?? [], 50), BenchResult.percentile(r.samples["tpot"] ?? [], 50),
                                   BenchResult.percentile(r.samples["itl"] ?? [], 50)))
            }
            print("| ISL:OSL     | ok/total  | output t/s | total t/s  | med TTFT ms| med TPOT ms| med ITL ms |")
            print("|-------------|-----------|------------|------------|------------|------------|------------|")
            rows.forEach { print($0) }
        }
    }
}

/// Loads the tokenizer (and the engine, in process), builds datasets and runs them.
struct BenchSetup {
    let bench: BenchOptions
    let loaded: LoadedModel
    let engine: Engine?
    let target: BenchTarget
    let modelName: String

    init(modelOptions: ModelOptions, engineOptions: EngineOptions, bench: BenchOptions) throws {
        self.bench = bench
        loaded = try modelOptions.load()
        if let url = bench.baseURL {
            engine = nil
            modelName = bench.servedModelName ?? servedName(loaded.path)
            target = .http(baseURL: url, model: modelName, apiKey: ProcessInfo.processInfo.environment["OPENAI_API_KEY"])
        } else {
            let engine = try engineOptions.makeEngine(loaded)
            self.engine = engine
            modelName = servedName(loaded.path)
            target = .engine(engine)
        }
    }

    var table: BenchTable {
        BenchTable(maxConcurrency: bench.maxConcurrency, requestRate: bench.rate, metrics: bench.metrics, percentiles: bench.percentiles)
    }

    func run(inputLength: Int, outputLength: Int) async throws -> BenchResult {
        let dataset = RandomDataset(inputLength: inputLength, outputLength: outputLength, rangeRatio: bench.randomRangeRatio,
                                    prefixLength: bench.randomPrefixLen, seed: bench.seed)
        let prompts = dataset.sample(count: bench.numPrompts, tokenizer: loaded.tokenizer)
        var runner = BenchRunner(target: target)
        runner.requestRate = bench.rate
        runner.burstiness = bench.burstiness
        runner.maxConcurrency = bench.maxConcurrency
        runner.seed = bench.seed
        let bar = ProgressBar(total: prompts.count)
        runner.progress = { done, total in bar.update(done) }
        print("Starting main benchmark run...")
        print("Traffic request rate: \(bench.requestRate)")
        print("Burstiness factor: \(bench.burstiness) (\(bench.burstiness == 1 ? "Poisson process" : "Gamma distribution"))")
        print("Maximum request concurrency: \(bench.maxConcurrency.map(String.init) ?? "None")")
        let result = await runner.run(prompts)
        bar.finish()
        if result.failed > 0 {
            print("Failed requests during benchmark run detected (capping to 10):")
            for (i, e) in result.errors.prefix(10).enumerated() { print("Error \(i): \(e)") }
        }
        return result
    }

    func save(_ result: BenchResult) throws {
        let report = BenchReport(modelID: modelName, backend: bench.baseURL == nil ? "herd-engine" : "openai",
                                 numPrompts: bench.numPrompts, requestRate: bench.rate, burstiness: bench.burstiness,
                                 maxConcurrency: bench.maxConcurrency, metrics: bench.metrics, percentiles: bench.percentiles)
        let stamp = DateFormatter()
        stamp.dateFormat = "yyyyMMdd-HHmmss"
        let rate = bench.rate.isFinite ? String(bench.rate) : "inf"
        let name = bench.resultFilename
            ?? "herd-\(rate)qps\(bench.maxConcurrency.map { "-concurrency\($0)" } ?? "")-\(modelName.replacingOccurrences(of: "/", with: "_"))-\(stamp.string(from: Date())).json"
        let path = URL(fileURLWithPath: bench.resultDir).appendingPathComponent(name)
        try Data(report.json(result).utf8).write(to: path)
        print("Results saved to \(path.path)")
    }
}

/// A one-line progress bar on stderr (only when stderr is a terminal).
final class ProgressBar: @unchecked Sendable {
    let total: Int
    let start = Date()
    let enabled = isatty(STDERR_FILENO) != 0
    private let lock = NSLock()
    init(total: Int) { self.total = total }

    func update(_ done: Int) {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        let width = 30, filled = total == 0 ? width : done * width / total
        let elapsed = Date().timeIntervalSince(start)
        let line = String(format: "\r%3d%%|%@%@| %d/%d [%.0fs, %.2f req/s]", done * 100 / max(total, 1),
                          String(repeating: "█", count: filled), String(repeating: " ", count: width - filled), done, total,
                          elapsed, Double(done) / max(elapsed, 1e-9))
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
