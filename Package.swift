// swift-tools-version: 6.1
// Herd: a live console and in-process inference engine for Llama 4 serving nodes.
// Module layering (imports point down only) is described in DECISIONS.md.
import PackageDescription

// Numeric C kernels are always built optimised, also in debug builds, so that model-running tests stay
// fast; run-time dispatch (not -march) picks AVX2/AVX-512 code paths, so the binary stays portable.
let kernelCFlags: [CSetting] = [.unsafeFlags(["-O3", "-fno-math-errno", "-ffp-contract=fast"])]

let package = Package(
    name: "Herd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "herd", targets: ["Herd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
    ],
    targets: [
        // layer 0: tensors, dtypes, the backend protocol
        .target(name: "Compute"),
        .target(name: "CHerdKernels", cSettings: kernelCFlags),
        // the GPU kernel tree (CUDA/HIP common dialect, embedded) and the vendor API tables
        .target(name: "CHerdGPU", exclude: ["kernels"], cSettings: [.unsafeFlags(["-Wno-c23-extensions"])]),
        // layer 1: model files; vendor libraries opened at run time (dlopen)
        .target(name: "Weights", dependencies: ["Compute"]),
        .target(name: "SharedLibraries"),
        // layer 2: backends, tokenizer, models
        .target(name: "ComputeCPU", dependencies: ["Compute", "CHerdKernels"]),
        // one GPU backend over a small driver protocol: CUDA (libcuda + NVRTC) and HIP (libamdhip64 + hiprtc)
        .target(name: "ComputeGPU", dependencies: ["Compute", "CHerdGPU", "CHerdKernels", "SharedLibraries"]),
        .target(name: "Tokenizer"),
        // the vLLM-style scheduler: request state, KV block pool, no tensors
        .target(name: "Scheduler", dependencies: [.product(name: "DequeModule", package: "swift-collections")]),
        .target(name: "Models", dependencies: ["Compute", "Weights", "Tokenizer"]),
        // layer 3: generation loop, sampling
        .target(name: "Engine", dependencies: ["Compute", "Models", "Tokenizer", "Scheduler"]),
        // layer 2: telemetry readers (host /proc, NVML, rocm-smi loaded at run time)
        .target(name: "CTelemetry"),  // NVML / rocm-smi function-pointer tables, checked against rocm_smi.h
        .target(name: "Telemetry", dependencies: ["CTelemetry", "SharedLibraries"]),
        // layer 4: edges
        .systemLibrary(name: "CNcursesw", pkgConfig: "ncursesw", providers: [.apt(["libncursesw5-dev"])]),
        .target(name: "Console", dependencies: ["CNcursesw", "Engine", "Telemetry", "Scheduler", "Models"]),
        .target(name: "Server", dependencies: [
            "Engine", "Scheduler", "Tokenizer", "Models",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // the benchmark client (vllm bench serve semantics), in process or over HTTP
        .target(name: "Bench", dependencies: [
            "Engine", "Scheduler", "Tokenizer",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        // layer 5: composition root
        .executableTarget(
            name: "Herd",
            dependencies: [
                "Compute", "ComputeCPU", "ComputeGPU", "Weights", "Tokenizer", "Models", "Engine", "Scheduler", "Console", "Server", "Bench",
                "Telemetry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "TestSupport", dependencies: ["Weights"], path: "Tests/TestSupport"),
        .testTarget(name: "WeightsTests", dependencies: ["Weights", "Compute", "TestSupport"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "Weights", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "ComputeCPUTests", dependencies: ["ComputeCPU", "Compute", "CHerdKernels"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "ComputeCPU", "Compute", "Weights", "Tokenizer", "Engine", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "HerdCLITests", dependencies: ["TestSupport"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Models", "Compute", "ComputeCPU", "Tokenizer", "Scheduler", "TestSupport"]),
        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler"]),
        .testTarget(name: "BenchTests", dependencies: ["Bench", "Engine", "Server", "Models", "ComputeCPU", "Scheduler", "TestSupport"]),
        .testTarget(name: "ConsoleTests", dependencies: ["Console", "Engine", "Scheduler", "Telemetry", "TestSupport"]),
        .testTarget(name: "TelemetryTests", dependencies: ["Telemetry", "SharedLibraries"]),
        .testTarget(name: "ComputeGPUTests", dependencies: ["ComputeGPU", "Compute", "SharedLibraries", "CHerdGPU", "CHerdKernels"]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "Engine", "Scheduler", "Models", "ComputeCPU", "TestSupport",
                                                        .product(name: "HummingbirdTesting", package: "hummingbird")]),
    ]
)
