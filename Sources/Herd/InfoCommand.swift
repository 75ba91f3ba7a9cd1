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
        let m = loaded.model
        print("file:          \(loaded.path)")
        if let gguf = loaded.gguf {
            print("format:        GGUF v\(gguf.version), \(gguf.tensors.count) tensors, \(gguf.metadata.count) metadata keys, alignment \(gguf.alignment)")
        } else if let checkpoint = loaded.checkpoint {
            print("format:        safetensors checkpoint, \(checkpoint.shards.count) shard(s), \(checkpoint.tensorNames.count) tensors")
        } else if let spec = try? SyntheticModelSpec(parsing: loaded.path) {
            print("format:        synthetic \(spec.preset.rawValue): seeded weights (seed \(spec.seed)), \(spec.dtype) matrices, \(String(format: "%.2f", Double(spec.weightBytes) / 1e9)) GB on the device")
        }
        print("name:          \(loaded.name)")
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
        if let llama4 = m as? Llama4Model {
            let c = llama4.config, layers = 0..<c.numHiddenLayers
            let nope = layers.filter { !c.usesRoPE($0) }, moe = c.moeLayerIndices
            print("layers:        \(c.numHiddenLayers) (MoE \(moe.count): \(moe.map(String.init).joined(separator: ",")); NoPE \(nope.count): \(nope.map(String.init).joined(separator: ",")))")
            print("hidden size:   \(c.hiddenSize)  (experts \(c.intermediateSize), dense \(c.denseIntermediateSize))")
            print("experts:       \(c.experts), \(c.expertsPerToken) per token, sigmoid gate on the input, shared expert")
            print("attention:     \(c.numAttentionHeads) heads, \(c.kvHeads) KV heads, head dim \(c.resolvedHeadDim), RoPE theta \(c.resolvedRopeTheta) (\(c.ropeType)), QK norm \(c.useQkNorm ?? true ? "on" : "off")")
            print("chunked attn:  \(c.attentionChunkSize.map { "\($0) tokens on RoPE layers" } ?? "off"); temperature tuning \(c.temperatureTuning ? "on (floor \(c.temperatureFloorScale), scale \(c.temperatureScale))" : "off")")
            print("context:       \(c.contextLength) tokens")
            print("norm epsilon:  \(c.epsilon)")
        }
        if let gguf = loaded.gguf {
            var byType: [DType: (count: Int, bytes: Int)] = [:]
            var parameters = 0
            for t in gguf.tensors {
                byType[t.type, default: (0, 0)].count += 1
                byType[t.type, default: (0, 0)].bytes += t.byteCount
                parameters += t.elementCount
            }
            printTypes(byType, parameters: parameters)
        } else if let checkpoint = loaded.checkpoint {
            var byType: [DType: (count: Int, bytes: Int)] = [:]
            var parameters = 0
            for name in checkpoint.tensorNames {
                guard let t = checkpoint.tensor(named: name), let dtype = t.dtype else { continue }
                byType[dtype, default: (0, 0)].count += 1
                byType[dtype, default: (0, 0)].bytes += t.range.count
                parameters += t.elementCount
            }
            printTypes(byType, parameters: parameters)
        }
        let tok = loaded.tokenizer
        print("tokenizer:     byte-level BPE, \(tok.vocabSize) tokens, pre-tokenizer \(tok.preTokenizer.rawValue), BOS \(tok.bosID.map(String.init) ?? "-")\(tok.addBOS ? " (added)" : ""), EOS \(tok.eosID.map(String.init) ?? "-")")
        print("chat format:   \(loaded.chatFormat?.name ?? "none (\(loaded.chatFormatError ?? "unknown"))")")
        print("backend:       \(m.backend.description)")
        if verbose, let gguf = loaded.gguf {
            print("\nmetadata:")
            for key in gguf.metadataKeys { print("  \(key) = \(gguf.metadata[key]!.summary)") }
            print("\ntensors:")
            for t in gguf.tensors { print("  \(t.name)  \(t.type)  \(t.dims)  \(t.byteCount) bytes") }
        } else if verbose, let checkpoint = loaded.checkpoint {
            print("\ntensors:")
            for name in checkpoint.tensorNames {
                guard let t = checkpoint.tensor(named: name) else { continue }
                print("  \(name)  \(t.dtypeName)  \(t.shape)  \(t.range.count) bytes")
            }
        }
    }

    private func printTypes(_ byType: [DType: (count: Int, bytes: Int)], parameters: Int) {
        let types = byType.sorted { $0.value.bytes > $1.value.bytes }
            .map { "\($0.key) x\($0.value.count) (\(megabytes($0.value.bytes)))" }.joined(separator: ", ")
        print("parameters:    \(String(format: "%.1f", Double(parameters) / 1e6))M")
        print("tensor types:  \(types)")
    }
}

func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }

import Foundation
