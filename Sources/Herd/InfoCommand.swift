import ArgumentParser
import Compute
import Models
import Weights

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a model file: architecture, hyperparameters, tensors, tokenizer, chat format.")

    @OptionGroup var modelOptions: ModelOptions
    @Flag(name: .long, help: "Also list every metadata key and every tensor.")
    var verbose = false

    func run() throws {
        let loaded = try modelOptions.load()
        let gguf = loaded.gguf, m = loaded.model
        print("file:          \(loaded.path)")
        print("format:        GGUF v\(gguf.version), \(gguf.tensors.count) tensors, \(gguf.metadata.count) metadata keys, alignment \(gguf.alignment)")
        print("name:          \(gguf.optionalString("general.name") ?? "-")")
        print("architecture:  \(m.architecture)")
        if let llama = m as? LlamaModel {
            let c = llama.config
            print("layers:        \(c.layers)")
            print("hidden size:   \(c.hiddenSize)  (intermediate \(c.intermediateSize))")
            print("attention:     \(c.heads) heads, \(c.kvHeads) KV heads, head dim \(c.headDim), RoPE theta \(c.ropeTheta)")
            print("context:       \(c.contextLength) tokens")
            print("norm epsilon:  \(c.rmsEpsilon)")
            print("embeddings:    \(c.tiedEmbeddings ? "tied with the output head" : "separate output head")")
        }
        var byType: [DType: (count: Int, bytes: Int)] = [:]
        var parameters = 0
        for t in gguf.tensors {
            byType[t.type, default: (0, 0)].count += 1
            byType[t.type, default: (0, 0)].bytes += t.byteCount
            parameters += t.elementCount
        }
        let types = byType.sorted { $0.value.bytes > $1.value.bytes }
            .map { "\($0.key) x\($0.value.count) (\(megabytes($0.value.bytes)))" }.joined(separator: ", ")
        print("parameters:    \(String(format: "%.1f", Double(parameters) / 1e6))M")
        print("tensor types:  \(types)")
        let tok = loaded.tokenizer
        print("tokenizer:     byte-level BPE, \(tok.vocabSize) tokens, pre-tokenizer \(tok.preTokenizer.rawValue), BOS \(tok.bosID.map(String.init) ?? "-")\(tok.addBOS ? " (added)" : ""), EOS \(tok.eosID.map(String.init) ?? "-")")
        print("chat format:   \(loaded.chatFormat?.name ?? "none (\(loaded.chatFormatError ?? "unknown"))")")
        print("backend:       \(m.backend.description)")
        if verbose {
            print("\nmetadata:")
            for key in gguf.metadataKeys { print("  \(key) = \(gguf.metadata[key]!.summary)") }
            print("\ntensors:")
            for t in gguf.tensors { print("  \(t.name)  \(t.type)  \(t.dims)  \(t.byteCount) bytes") }
        }
    }
}

func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }

import Foundation
