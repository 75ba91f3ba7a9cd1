import Compute
import Foundation
import Weights

/// Maps a Hugging Face Llama 4 checkpoint's tensors onto a `Llama4Model`: names, shapes, the fused expert
/// tensors' `[E, in, out]` layout, FP8 weights with per-row scales. Every problem is a `ModelFileError`
/// naming the shard (or directory) and the tensor.
struct Llama4CheckpointLoader {
    let checkpoint: HFCheckpoint
    let config: Llama4CheckpointConfig
    let backend: any ComputeBackend
    /// Names the loader has taken, to find tensors the configured model does not use.
    private(set) var used = Set<String>()

    init(checkpoint: HFCheckpoint, config: Llama4CheckpointConfig, backend: any ComputeBackend) {
        self.checkpoint = checkpoint
        self.config = config
        self.backend = backend
    }

    /// Where errors about `name` point: its shard, or the directory when it is missing.
    func location(_ name: String) -> String { checkpoint.shard(of: name)?.path ?? checkpoint.directory }

    /// The named tensor's host bytes, checked against `shape`.
    mutating func host(_ name: String, _ shape: [Int]) throws(ModelFileError) -> HostTensor {
        guard let host = try checkpoint.hostTensor(named: name) else {
            throw ModelFileError(checkpoint.directory, "missing tensor \"\(name)\"")
        }
        guard host.shape == shape else {
            throw ModelFileError(location(name), "tensor \"\(name)\" has shape \(host.shape), expected \(shape)")
        }
        used.insert(name)
        return host
    }

    /// A weight placed on the backend; errors from the backend are given the tensor's file.
    func place(_ name: String, _ body: () throws -> Tensor) throws(ModelFileError) -> Tensor {
        do { return try body() } catch let error as ModelFileError { throw error } catch {
            throw ModelFileError(location(name), "\(error)")
        }
    }

    /// A norm weight or a float matrix `[out, in]`. FP8 matrices (`F8_E4M3`) need their companion
    /// `<name>_scale` (`[out]` or `[out, 1]`: one scale per output row).
    mutating func weight(_ name: String, _ shape: [Int]) throws(ModelFileError) -> Tensor {
        let host = try host(name, shape)
        guard host.dtype == .f8_e4m3 else { return try place(name) { try backend.weight(host) } }
        let scaleName = name + "_scale"
        guard let scales = try checkpoint.hostTensor(named: scaleName) else {
            throw ModelFileError(location(name), "FP8 tensor \"\(name)\" has no \"\(scaleName)\"")
        }
        guard shape.count == 2, scales.shape.reduce(1, *) == shape[0], scales.shape.first == shape[0] else {
            throw ModelFileError(location(scaleName), "tensor \"\(scaleName)\" has shape \(scales.shape), expected [\(shape[0]), 1] (per-output-channel FP8)")
        }
        used.insert(scaleName)
        return try place(name) { try backend.weight(host, rowScales: scales) }
    }

    mutating func mlp(_ prefix: String, width: Int) throws(ModelFileError) -> Llama4Model.MLP {
        let hidden = config.text.hiddenSize
        return Llama4Model.MLP(gate: try weight(prefix + "gate_proj.weight", [width, hidden]),
                               up: try weight(prefix + "up_proj.weight", [width, hidden]),
                               down: try weight(prefix + "down_proj.weight", [hidden, width]))
    }

    /// The routed experts of one layer: HF's fused `experts.gate_up_proj` [E, hidden, 2F] (gate = columns
    /// 0..<F, up = F..<2F) and `experts.down_proj` [E, F, hidden], stored `[in, out]`, transposed here to the
    /// backend's `[out, in]`; or per-expert `experts.{e}.{gate,up,down}_proj.weight` (FP8 exports).
    mutating func experts(_ prefix: String) throws(ModelFileError) -> [Llama4Model.MLP] {
        let c = config.text, e = c.experts, f = c.intermediateSize, hidden = c.hiddenSize
        let fusedName = prefix + "gate_up_proj", downName = prefix + "down_proj"
        guard checkpoint.tensor(named: fusedName) != nil else {
            return try (0..<e).map { (i: Int) throws(ModelFileError) in try mlp(prefix + "\(i).", width: f) }
        }
        let gateUp = try host(fusedName, [e, hidden, 2 * f])
        let down = try host(downName, [e, f, hidden])
        for t in [gateUp, down] where ![.f32, .f16, .bf16].contains(t.dtype) {
            throw ModelFileError(location(t.name), "fused expert tensor \"\(t.name)\" is \(t.dtype); fused experts must be F32, F16 or BF16")
        }
        var experts: [Llama4Model.MLP] = []
        for i in 0..<e {
            let gate = HostTransposer.slice(gateUp, expert: i, columns: 0..<f, name: fusedName + "[\(i)].gate")
            let up = HostTransposer.slice(gateUp, expert: i, columns: f..<(2 * f), name: fusedName + "[\(i)].up")
            let dn = HostTransposer.slice(down, expert: i, columns: 0..<hidden, name: downName + "[\(i)]")
            experts.append(Llama4Model.MLP(gate: try place(fusedName) { try backend.weight(gate) },
                                           up: try place(fusedName) { try backend.weight(up) },
                                           down: try place(downName) { try backend.weight(dn) }))
        }
        return experts
    }

    /// Loads every weight the configuration calls for and checks nothing of the text model is left over.
    mutating func load() throws(ModelFileError) -> Llama4Model {
        let c = config.text, p = config.modelPrefix
        let hidden = c.hiddenSize, d = c.resolvedHeadDim
        let q = c.numAttentionHeads * d, kv = c.kvHeads * d
        let embedding = try weight(p + "embed_tokens.weight", [c.vocabSize, hidden])
        var layers: [Llama4Model.Layer] = []
        for i in 0..<c.numHiddenLayers {
            let l = p + "layers.\(i)."
            let ff = l + "feed_forward."
            let feedForward: Llama4Model.FeedForward
            if c.isMoE(i) {
                feedForward = .moe(router: try weight(ff + "router.weight", [c.experts, hidden]),
                                   experts: try experts(ff + "experts."),
                                   shared: try mlp(ff + "shared_expert.", width: c.intermediateSize))
            } else {
                feedForward = .dense(try mlp(ff, width: c.denseIntermediateSize))
            }
            layers.append(Llama4Model.Layer(
                inputNorm: try weight(l + "input_layernorm.weight", [hidden]),
                wq: try weight(l + "self_attn.q_proj.weight", [q, hidden]),
                wk: try weight(l + "self_attn.k_proj.weight", [kv, hidden]),
                wv: try weight(l + "self_attn.v_proj.weight", [kv, hidden]),
                wo: try weight(l + "self_attn.o_proj.weight", [hidden, q]),
                postAttentionNorm: try weight(l + "post_attention_layernorm.weight", [hidden]),
                feedForward: feedForward))
        }
        let finalNorm = try weight(p + "norm.weight", [hidden])
        let output = c.tiedEmbeddings && checkpoint.tensor(named: config.headName) == nil
            ? embedding : try weight(config.headName, [c.vocabSize, hidden])

        let textPrefixes = [p, config.headName]
        let leftover = checkpoint.tensorNames.filter { name in
            !used.contains(name) && textPrefixes.contains { name.hasPrefix($0) }
        }
        if let first = leftover.first {
            throw ModelFileError(location(first), "tensor \"\(first)\" (and \(leftover.count - 1) more) is not used by the model config.json describes (\(c.numHiddenLayers) layers, MoE layers \(c.moeLayerIndices)): config and weights disagree")
        }
        let ignored = checkpoint.tensorNames.filter { !used.contains($0) }
        if !ignored.isEmpty {
            let kinds = Set(ignored.map { $0.split(separator: ".").first.map(String.init) ?? $0 }).sorted()
            FileHandle.standardError.write(Data("herd: text-only: ignoring \(ignored.count) tensors of \(kinds.joined(separator: ", ")) in \(checkpoint.directory)\n".utf8))
        }
        return Llama4Model(config: c, backend: backend, embedding: embedding, layers: layers, finalNorm: finalNorm, output: output)
    }
}

extension Llama4Model {
    /// Loads a Hugging Face Llama 4 checkpoint directory (config.json + safetensors) onto `backend`.
    public static func load(checkpoint: HFCheckpoint, config: Llama4CheckpointConfig,
                            backend: any ComputeBackend) throws(ModelFileError) -> Llama4Model {
        var loader = Llama4CheckpointLoader(checkpoint: checkpoint, config: config, backend: backend)
        return try loader.load()
    }
}

/// Owns host bytes made at load (transposed expert matrices) until a backend is done with them.
final class HostBytes {
    let pointer: UnsafeMutableRawPointer
    let count: Int
    init(count: Int) {
        self.count = count
        pointer = .allocate(byteCount: max(count, 1), alignment: 64)
    }
    deinit { pointer.deallocate() }
    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }
}

enum HostTransposer {
    /// From a `[E, rows, cols]` tensor, expert `expert`'s columns `columns`, transposed: `[columns.count, rows]`.
    static func slice(_ t: HostTensor, expert: Int, columns: Range<Int>, name: String) -> HostTensor {
        let rows = t.shape[1], cols = t.shape[2], width = t.dtype.blockBytes
        let out = HostBytes(count: columns.count * rows * width)
        let src = t.bytes.baseAddress! + expert * rows * cols * width
        func transpose<T>(_: T.Type) {
            let s = src.assumingMemoryBound(to: T.self), d = out.pointer.assumingMemoryBound(to: T.self)
            for r in 0..<rows {
                for (j, col) in columns.enumerated() { d[j * rows + r] = s[r * cols + col] }
            }
        }
        switch width {
        case 1: transpose(UInt8.self)
        case 2: transpose(UInt16.self)
        case 4: transpose(UInt32.self)
        default: transpose(UInt64.self)
        }
        return HostTensor(name: name, dtype: t.dtype, shape: [columns.count, rows], bytes: out.buffer, owner: out)
    }
}
