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
    @Option(name: .long, help: ArgumentHelp("Memory for the paged KV cache, e.g. 512MiB, 2GiB (default: 1GiB on the CPU; on a GPU what --gpu-memory-utilization leaves).", valueName: "size"))
    var kvCacheMemory: String?
    @Option(name: .long, help: "GPU: the fraction of the device's memory Herd may use in all (weights, activations, KV cache), as vLLM's.")
    var gpuMemoryUtilization: Double = 0.9
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
        let bytes = try kvCacheBytes(loaded)
        let kvCacheMemory = Self.formatSize(bytes)
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

    /// The KV cache size: --kv-cache-memory when given; on a GPU, vLLM's rule: the utilization's share of
    /// the device less what is in use now (weights loaded) and a reserve for activations and logits.
    func kvCacheBytes(_ loaded: LoadedModel) throws -> Int {
        if let text = kvCacheMemory { return try Self.parseSize(text) }
        guard let memory = loaded.model.backend.deviceMemory else { return 1 << 30 }
        guard gpuMemoryUtilization > 0 && gpuMemoryUtilization <= 1 else {
            throw ValidationError("--gpu-memory-utilization must be in (0, 1], got \(gpuMemoryUtilization)")
        }
        let used = memory.total - memory.free
        // Activations: ~64 KiB per batched token at full Llama 4 width; logits: a vocab row per sequence.
        let reserve = max(1 << 30, maxNumBatchedTokens * (64 << 10) + maxNumSeqs * loaded.model.vocabularySize * 4 * 2)
        let budget = Int(Double(memory.total) * gpuMemoryUtilization) - used - reserve
        guard budget >= 16 * EngineCore.bytesPerBlock(model: loaded.model, blockSize: 16) else {
            throw CLIError("--gpu-memory-utilization \(gpuMemoryUtilization): no room for a KV cache (\(Self.formatSize(memory.total)) on the device, \(Self.formatSize(used)) in use after loading the weights, \(Self.formatSize(reserve)) kept for activations); raise it, load fewer layers, or pass --kv-cache-memory")
        }
        FileHandle.standardError.write(Data("herd: KV cache \(Self.formatSize(budget)) (\(gpuMemoryUtilization) of \(Self.formatSize(memory.total)), \(Self.formatSize(used)) in use, \(Self.formatSize(reserve)) reserved)\n".utf8))
        return budget
    }

    static func formatSize(_ bytes: Int) -> String {
        bytes >= 1 << 30 ? String(format: "%.1fGiB", Double(bytes) / Double(1 << 30)) : "\(bytes >> 20)MiB"
    }

    func makeEngine(_ loaded: LoadedModel) throws -> Engine {
        Engine(core: try makeEngineCore(loaded), modelName: servedName(loaded.path))
    }
}
