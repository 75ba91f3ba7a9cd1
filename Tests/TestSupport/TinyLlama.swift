import Compute
import Foundation

/// A tiny random llama model written as a GGUF file: byte-level vocabulary of the 256 GPT-2 byte tokens
/// plus ChatML specials, no merges, F32 weights from a seed. Tests use it (and broken variants of it) where
/// the real model is not the point.
public enum TinyLlama {
    public struct Shape {
        public var layers = 2, hidden = 64, intermediate = 96, heads = 4, kvHeads = 2, context = 128
        public init() {}
    }

    /// GPT-2's byte-to-character mapping, so byte tokens are spelled as byte-level BPE expects.
    static func byteSpelling(_ b: Int) -> String {
        let printable = Array(33...126) + Array(161...172) + Array(174...255)
        if printable.contains(b) { return String(UnicodeScalar(UInt8(b))) }
        let extra = (0..<256).filter { !printable.contains($0) }
        return String(UnicodeScalar(UInt32(256 + extra.firstIndex(of: b)!))!)
    }

    public static let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

    /// The writer for a valid tiny model; callers may break it before writing.
    public static func writer(_ s: Shape = Shape(), seed: UInt64 = 1) -> GGUFWriter {
        var state = seed
        func random() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state) >> 11) / Float(1 << 52) * 0.2
        }
        func floats(_ n: Int) -> [UInt8] { (0..<n).map { _ in random() }.withUnsafeBytes { Array($0) } }
        func ones(_ n: Int) -> [UInt8] { [Float](repeating: 1, count: n).withUnsafeBytes { Array($0) } }
        let tokens = specials + (0..<256).map(byteSpelling)
        let vocab = tokens.count
        var w = GGUFWriter()
        w.add("general.architecture", .string("llama"))
        w.add("general.name", .string("tiny-llama-test"))
        w.add("llama.block_count", .u32(UInt32(s.layers)))
        w.add("llama.context_length", .u32(UInt32(s.context)))
        w.add("llama.embedding_length", .u32(UInt32(s.hidden)))
        w.add("llama.feed_forward_length", .u32(UInt32(s.intermediate)))
        w.add("llama.attention.head_count", .u32(UInt32(s.heads)))
        w.add("llama.attention.head_count_kv", .u32(UInt32(s.kvHeads)))
        w.add("llama.rope.freq_base", .f32(10000))
        w.add("llama.attention.layer_norm_rms_epsilon", .f32(1e-5))
        w.add("tokenizer.ggml.model", .string("gpt2"))
        w.add("tokenizer.ggml.pre", .string("smollm"))
        w.add("tokenizer.ggml.tokens", .array(8, tokens.map { .string($0) }))
        w.add("tokenizer.ggml.token_type", .array(5, tokens.indices.map { .i32($0 < specials.count ? 3 : 1) }))
        w.add("tokenizer.ggml.merges", .array(8, []))
        w.add("tokenizer.ggml.bos_token_id", .u32(1))
        w.add("tokenizer.ggml.eos_token_id", .u32(2))
        w.add("tokenizer.chat_template", .string("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"))
        let headDim = s.hidden / s.heads
        w.addTensor("token_embd.weight", dims: [s.hidden, vocab], type: .f32, data: floats(vocab * s.hidden))
        for i in 0..<s.layers {
            let p = "blk.\(i)."
            w.addTensor(p + "attn_norm.weight", dims: [s.hidden], type: .f32, data: ones(s.hidden))
            w.addTensor(p + "attn_q.weight", dims: [s.hidden, s.heads * headDim], type: .f32, data: floats(s.hidden * s.heads * headDim))
            w.addTensor(p + "attn_k.weight", dims: [s.hidden, s.kvHeads * headDim], type: .f32, data: floats(s.hidden * s.kvHeads * headDim))
            w.addTensor(p + "attn_v.weight", dims: [s.hidden, s.kvHeads * headDim], type: .f32, data: floats(s.hidden * s.kvHeads * headDim))
            w.addTensor(p + "attn_output.weight", dims: [s.heads * headDim, s.hidden], type: .f32, data: floats(s.hidden * s.heads * headDim))
            w.addTensor(p + "ffn_norm.weight", dims: [s.hidden], type: .f32, data: ones(s.hidden))
            w.addTensor(p + "ffn_gate.weight", dims: [s.hidden, s.intermediate], type: .f32, data: floats(s.hidden * s.intermediate))
            w.addTensor(p + "ffn_up.weight", dims: [s.hidden, s.intermediate], type: .f32, data: floats(s.hidden * s.intermediate))
            w.addTensor(p + "ffn_down.weight", dims: [s.intermediate, s.hidden], type: .f32, data: floats(s.hidden * s.intermediate))
        }
        w.addTensor("output_norm.weight", dims: [s.hidden], type: .f32, data: ones(s.hidden))
        return w
    }
}
