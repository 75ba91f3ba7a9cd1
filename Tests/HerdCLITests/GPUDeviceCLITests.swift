import Foundation
import TestSupport
import Testing

/// `--device` on a machine without the GPU it names: one clear line saying what is missing, exit 1;
/// `--device auto` falls back to the CPU.
struct GPUDeviceCLITests {
    static let hasAMDGPU = FileManager.default.fileExists(atPath: "/dev/kfd")

    @Test(.enabled(if: !hasAMDGPU, "/dev/kfd exists: an AMD GPU may be here"))
    func deviceHipWithoutAnAMDGPUSaysWhy() throws {
        let model = try TinyLlama.writer().write(name: "cli-hip")
        let r = try CLITests.herd(["generate", "--device", "hip", "--model", model, "--prompt", "hi", "--max-tokens", "2"])
        #expect(r.status == 1)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && r.stderr.hasPrefix("Error: --device hip: "), "\(r.stderr)")
        // Either the runtime's own error (the library loaded) or the sonames tried (it did not).
        #expect(r.stderr.contains("no AMD GPU is usable here") && r.stderr.contains("hipError")
                || r.stderr.contains("HIP runtime (libamdhip64) not available: none of libamdhip64.so.6"), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"), "a clean error, not a crash")
    }

    @Test(.enabled(if: !hasAMDGPU && !FileManager.default.fileExists(atPath: "/dev/nvidiactl"), "a GPU may be here"))
    func deviceAutoFallsBackToTheCPU() throws {
        let model = try TinyLlama.writer().write(name: "cli-auto")
        let r = try CLITests.herd(["generate", "--device", "auto", "--model", model, "--prompt", "hi", "--max-tokens", "2",
                                   "--temperature", "0", "--ignore-eos", "--json", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("\"finish_reason\""), "\(r.stdout)")
    }
}
