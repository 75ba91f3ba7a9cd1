import ArgumentParser
import Compute
import Engine
import Foundation
import Models

struct Speed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure prompt processing and generation speed of the model on this machine (prints a table).",
        discussion: "Runs a prompt of --prompt-tokens random token ids, then generates --gen-tokens tokens greedily, --repeat times, and prints the median rates and the process's peak resident memory.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .long, help: "Prompt length in tokens.")
    var promptTokens = 512
    @Option(name: .long, help: "Tokens to generate.")
    var genTokens = 128
    @Option(name: .long, help: "Repetitions (the median is reported).")
    var `repeat` = 3

    func run() throws {
        let loaded = try modelOptions.load()
        let model = loaded.model
        guard promptTokens >= 1, genTokens >= 1, promptTokens + genTokens <= model.contextLength, `repeat` >= 1 else {
            throw CLIError("need 1 <= prompt + generated tokens <= \(model.contextLength) and --repeat >= 1")
        }
        var rng = SeededGenerator(seed: 1)
        let prompt = (0..<promptTokens).map { _ in Int32(rng.next() % UInt64(min(model.vocabularySize, 32000))) }
        var pp: [Double] = [], tg: [Double] = []
        for _ in 0..<`repeat` {
            let cache = model.makeKVCache(slots: promptTokens + genTokens)
            let t0 = DispatchTime.now().uptimeNanoseconds
            var logits = model.forward(tokens: prompt, batch: .contiguous(start: 0, count: promptTokens), cache: cache,
                                       logitRows: [promptTokens - 1])
            let t1 = DispatchTime.now().uptimeNanoseconds
            var sampler = Sampler(.greedy)
            for i in 0..<genTokens {
                let token = Int32(sampler.sample(logits[...]))
                logits = model.forward(tokens: [token], batch: .contiguous(start: promptTokens + i, count: 1), cache: cache, logitRows: [0])
            }
            let t2 = DispatchTime.now().uptimeNanoseconds
            pp.append(Double(promptTokens) / (Double(t1 - t0) / 1e9))
            tg.append(Double(genTokens) / (Double(t2 - t1) / 1e9))
        }
        func median(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }
        let name = loaded.name
        print("model:   \(name)")
        print("backend: \(model.backend.description)")
        print("")
        print("| test            | tokens/s (median of \(`repeat`)) |")
        print("|-----------------|-----------------------|")
        print(String(format: "| prompt pp%-6d | %21.1f |", promptTokens, median(pp)))
        print(String(format: "| generate tg%-4d | %21.1f |", genTokens, median(tg)))
        print(String(format: "| peak RSS        | %17.1f MiB |", Double(peakResidentKiB()) / 1024))
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
