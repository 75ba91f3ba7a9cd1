import Compute
@testable import ComputeGPU
import Foundation
import Testing

/// `GPUBackend.branch` on the recording driver: what runs on the second stream and when the main stream
/// waits for it, where a step branches at all, and that a captured step with a branch replays.
@Suite struct BranchTests {
    static func backend() throws -> (GPUBackend, RecordingDriver, String) {
        let (b, driver, dir) = try StepGraphTests.backend()
        driver.branches = true
        return (b, driver, dir)
    }

    @Test func aOneRowBranchRunsOnTheSideStreamUntilItIsJoinedOnce() throws {
        let (b, driver, dir) = try Self.backend()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let x = b.zeros([1, 64])
        driver.log = []
        b.branch(rows: 1, weights: []) { b.add(x, x, rows: 1) }
        b.rmsNorm(x, weight: nil, eps: 1e-5, rows: 1, into: x)
        b.joinBranches()
        b.joinBranches()
        #expect(driver.log == ["fork", "side:herd_add", "endFork", "main:herd_rms_norm", "join"])
    }

    @Test func largerStepsBranchOnlyForFP8Weights() throws {
        let (b, driver, dir) = try Self.backend()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let x = b.zeros([1, 64])
        let bf16 = b.deviceTensor(.bf16, [4, 64], b.allocate(512), bytes: 512)
        let fp8 = b.deviceTensor(.f8_e4m3, [4, 64], b.allocate(256), bytes: 256)
        for (weights, fp8Branches, forks) in [(bf16, true, false), (fp8, false, false), (fp8, true, true)] {
            b.branchesFP8Decode = fp8Branches
            driver.log = []
            b.branch(rows: 64, weights: [weights]) { b.add(x, x, rows: 1) }
            b.joinBranches()
            #expect(driver.log == (forks ? ["fork", "side:herd_add", "endFork", "join"] : ["main:herd_add"]),
                    "\(weights.dtype), FP8 decode branches \(fp8Branches)")
        }
        b.concurrentBranches = false
        driver.log = []
        b.branch(rows: 1, weights: []) { b.add(x, x, rows: 1) }
        #expect(driver.log == ["main:herd_add"], "HERD_BRANCHES=0 runs it in place")
    }

    /// The side runs on its own tensor-core scratch, and a replayed step must check its launches against the
    /// captured ones on that same scratch (an H200 run found every replay mismatching when it did not).
    @Test func aStepWithABranchOnItsOwnScratchIsCapturedAndReplayed() throws {
        let (b, _, dir) = try Self.backend()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        b.branchesFP8Decode = true
        let x = b.zeros([1, 64])
        let fp8 = b.deviceTensor(.f8_e4m3, [4, 64], b.allocate(256), bytes: 256)
        func step() {
            b.deviceStep(shape: "branch") {
                b.branch(rows: 64, weights: [fp8]) { b.add(b.mmaWorkspace(splitBytes: 512, partialBytes: 0).split, x, rows: 1) }
                b.add(b.mmaWorkspace(splitBytes: 512, partialBytes: 0).split, x, rows: 1)
                b.joinBranches()
            }
        }
        for _ in 0..<4 { step() }
        #expect(b.sideMMABuffers.split.data != b.mmaBuffers.split.data, "the side has its own split buffer")
        #expect(b.graphStats.captures == 1 && b.graphStats.replays == 2 && b.graphStats.mismatches == 0)
    }
}
