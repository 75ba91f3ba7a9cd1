import ComputeCPU
import Models
import TestSupport
import Testing
import Weights

/// Broken model files give errors that name the file and the tensor or key at fault.
struct ModelLoadingTests {
    static func loadError(_ w: GGUFWriter) throws -> String {
        let path = try w.write(name: "broken")
        do {
            _ = try ModelLoader.load(path: path, backend: CPUBackend(threads: 1))
        } catch {
            let message = "\(error)"
            #expect(message.contains(path), "error does not name the file: \(message)")
            return message
        }
        Issue.record("broken model loaded")
        return ""
    }

    @Test func tinyModelLoads() throws {
        let m = try ModelLoader.load(path: TinyLlama.writer().write(), backend: CPUBackend(threads: 1))
        #expect(m.model.layerCount == 2 && m.model.vocabularySize == 259)
        #expect(m.chatFormat != nil)
    }

    @Test func missingTensor() throws {
        var w = TinyLlama.writer()
        w.tensors.removeAll { $0.name == "blk.1.ffn_up.weight" }
        #expect(try Self.loadError(w).contains("missing tensor \"blk.1.ffn_up.weight\""))
    }

    @Test func wrongShape() throws {
        var w = TinyLlama.writer()
        let i = w.tensors.firstIndex { $0.name == "blk.0.attn_k.weight" }!
        w.tensors[i].dims = [64, 64]
        w.tensors[i].data += w.tensors[i].data
        #expect(try Self.loadError(w).contains("tensor \"blk.0.attn_k.weight\" has shape [64, 64], expected [32, 64]"))
    }

    @Test func inconsistentHyperparameters() throws {
        var w = TinyLlama.writer()
        w.metadata = w.metadata.map { $0.0 == "llama.attention.head_count_kv" ? ($0.0, .u32(3)) : $0 }
        #expect(try Self.loadError(w).contains("inconsistent hyperparameters"))
        w = TinyLlama.writer()
        w.metadata.removeAll { $0.0 == "llama.block_count" }
        #expect(try Self.loadError(w).contains("missing metadata key \"llama.block_count\""))
        w = TinyLlama.writer()
        w.metadata = w.metadata.map { $0.0 == "llama.embedding_length" ? ($0.0, .string("64")) : $0 }
        #expect(try Self.loadError(w).contains("llama.embedding_length"))
    }

    @Test func unsupportedArchitectureAndTokenizer() throws {
        var w = TinyLlama.writer()
        w.metadata = w.metadata.map { $0.0 == "general.architecture" ? ($0.0, .string("mamba")) : $0 }
        #expect(try Self.loadError(w).contains("architecture \"mamba\" is not supported"))
        w = TinyLlama.writer()
        w.metadata = w.metadata.map { $0.0 == "tokenizer.ggml.model" ? ($0.0, .string("llama")) : $0 }
        #expect(try Self.loadError(w).contains("tokenizer.ggml.model \"llama\""))
        w = TinyLlama.writer()
        w.metadata = w.metadata.map { $0.0 == "tokenizer.ggml.pre" ? ($0.0, .string("klingon")) : $0 }
        #expect(try Self.loadError(w).contains("klingon"))
        w = TinyLlama.writer()
        w.metadata = w.metadata.map { $0.0 == "tokenizer.ggml.eos_token_id" ? ($0.0, .u32(5000)) : $0 }
        #expect(try Self.loadError(w).contains("tokenizer.ggml.eos_token_id = 5000"))
    }

    @Test func weightTypeTheBackendCannotMultiply() throws {
        var w = TinyLlama.writer()
        let i = w.tensors.firstIndex { $0.name == "blk.0.ffn_gate.weight" }!
        // F64 is a valid GGUF type that no CPU kernel multiplies.
        w.tensors[i].type = DTypeID.f64
        w.tensors[i].data = [UInt8](repeating: 0, count: 64 * 96 * 8)
        let message = try Self.loadError(w)
        #expect(message.contains("tensor \"blk.0.ffn_gate.weight\": the CPU backend cannot multiply F64 weights"))
    }

    @Test func vocabularyAndEmbeddingDisagree() throws {
        var w = TinyLlama.writer()
        w.metadata = w.metadata.map {
            guard $0.0 == "tokenizer.ggml.tokens", case .array(let t, let v) = $0.1 else { return $0 }
            return ($0.0, .array(t, v + [.string("extra")]))
        }
        w.metadata = w.metadata.map {
            guard $0.0 == "tokenizer.ggml.token_type", case .array(let t, let v) = $0.1 else { return $0 }
            return ($0.0, .array(t, v + [.i32(1)]))
        }
        #expect(try Self.loadError(w).contains("tokenizer has 260 tokens but the embedding table has 259 rows"))
    }
}

enum DTypeID {
    static let f64: UInt32 = 28
}
