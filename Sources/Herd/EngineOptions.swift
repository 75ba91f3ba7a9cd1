import ArgumentParser
import Engine
import Foundation
import Models
import Scheduler

/// Serving knobs and cache size, shared by every command that runs the batching engine.
struct EngineOptions: ParsableArguments {
    @Option(name: .long, help: "Token budget of one engine step (prefill chunks plus decodes).")
    var maxNumBatchedTokens: Int = 2048
    @Option(name: .long, help: "Most requests running at once.")
    var maxNumSeqs: Int = 256
    @Option(name: .long, help: "Longest sequence (prompt + output) a request may reach (default: the model's context, capped by the KV cache).")
    var maxModelLen: Int?
    @Option(name: .long, help: ArgumentHelp("Memory for the paged KV cache, e.g. 512MiB, 2GiB (the CPU's gpu_memory_utilization).", valueName: "size"))
    var kvCacheMemory: String = "1GiB"
    @Flag(name: .long, inversion: .prefixedEnableDisable, help: "Reuse cached KV blocks of shared prompt prefixes.")
    var prefixCaching = true
    @Flag(name: .customLong("no-enable-prefix-caching"), help: "Turn prefix caching off (vLLM's spelling).")
    var noEnablePrefixCaching = false

    /// Parses "512MiB", "2GiB", "1.5GB", "1000000" into bytes.
    static func parseSize(_ text: String) throws -> Int {
        let gib = Double(1 << 30), mib = Double(1 << 20), kib = Double(1 << 10)
        let units: [(String, Double)] = [("GiB", gib), ("MiB", mib), ("KiB", kib), ("GB", 1e9), ("MB", 1e6),
                                         ("KB", 1e3), ("G", gib), ("M", mib), ("K", kib), ("B", 1)]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            if let v = Double(trimmed.dropLast(suffix.count)), v > 0 { return Int(v * scale) }
        }
        if let v = Int(trimmed), v > 0 { return v }
        throw ValidationError("--kv-cache-memory: cannot read \"\(text)\" as a size (examples: 512MiB, 2GiB)")
    }

    /// Builds the engine over a loaded model. The default max_model_len is the model's context, lowered to
    /// what the KV cache can hold for one request (and said so on stderr).
    func makeEngineCore(_ loaded: LoadedModel) throws -> EngineCore {
        let bytes = try Self.parseSize(kvCacheMemory)
        let perBlock = EngineCore.bytesPerBlock(model: loaded.model, blockSize: 16)
        let cacheTokens = max(0, bytes / perBlock - 1) * 16
        var length = maxModelLen ?? loaded.model.contextLength
        if maxModelLen == nil && length > cacheTokens && cacheTokens >= 16 {
            length = cacheTokens
            FileHandle.standardError.write(Data("herd: max_model_len lowered to \(length), what a \(kvCacheMemory) KV cache holds for one request\n".utf8))
        }
        let config = SchedulerConfig(maxNumBatchedTokens: maxNumBatchedTokens, maxNumSeqs: maxNumSeqs, maxModelLen: length,
                                     prefixCaching: prefixCaching && !noEnablePrefixCaching)
        do {
            return try EngineCore(model: loaded.model, tokenizer: loaded.tokenizer, chatFormat: loaded.chatFormat,
                                  config: config, kvCacheBytes: bytes)
        } catch {
            throw CLIError("\(error)")
        }
    }

    func makeEngine(_ loaded: LoadedModel) throws -> Engine {
        Engine(core: try makeEngineCore(loaded), modelName: servedName(loaded.path))
    }
}
