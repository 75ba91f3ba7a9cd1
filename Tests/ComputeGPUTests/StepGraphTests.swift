import Compute
@testable import ComputeGPU
import Foundation
import Testing

/// The decode-step graph logic of GPUBackend+Graphs.swift on a driver whose "device" is host memory and
/// whose launches are only written down: which steps run eagerly, which are captured and which replay,
/// that a replay carries the step's new staged values, and that any difference falls back to eager.
@Suite struct StepGraphTests {
    /// A backend over a fresh `RecordingDriver`, its kernel cache in a temporary folder.
    static func backend() throws -> (GPUBackend, RecordingDriver, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("herd-graph-test-\(UUID())").path
        let driver = RecordingDriver()
        let backend = try GPUBackend(driver: driver, kernelCache: dir)
        backend.useStepGraphs = true
        return (backend, driver, dir)
    }

    /// One "step": a norm (a scalar argument, `eps`) and RoPE (staged positions) on a 2 x 64 activation.
    static func step(_ b: GPUBackend, _ x: Tensor, positions: [Int32], eps: Float = 1e-5) {
        b.rmsNorm(x, weight: nil, eps: eps, rows: 2, into: x)
        b.rope(x, rows: 2, heads: 1, headDim: 64, positions: positions, rope: .standard(headDim: 64, theta: 10_000, interleaved: true))
    }

    @Test func aRepeatingStepIsCapturedOnceThenReplayedWithItsNewInputs() throws {
        let (b, driver, dir) = try Self.backend()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let x = b.zeros([2, 64])
        // First sighting: eager. Second: captured, then run as a graph. Third and fourth: replayed.
        b.deviceStep(shape: "s") { Self.step(b, x, positions: [1, 2]) }
        #expect(driver.directLaunches == 2 && driver.graphLaunches == 0)
        b.deviceStep(shape: "s") { Self.step(b, x, positions: [3, 4]) }
        #expect(b.graphStats.captures == 1 && driver.graphLaunches == 1 && driver.capturedLaunches == 2)
        b.deviceStep(shape: "s") { Self.step(b, x, positions: [5, 6]) }
        b.deviceStep(shape: "s") { Self.step(b, x, positions: [7, 8]) }
        #expect(b.graphStats.replays == 2 && driver.graphLaunches == 3)
        #expect(driver.directLaunches == 2, "a replayed step launches nothing itself")
        // The last replay's staging copy carried positions 7 and 8.
        #expect(driver.lastStagingCopy.prefix(2) == [7, 8])
    }

    @Test func aChangedArgumentRunsTheStepEagerlyAndRecapturesIt() throws {
        let (b, driver, dir) = try Self.backend()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let x = b.zeros([2, 64])
        for _ in 0..<3 { b.deviceStep(shape: "s") { Self.step(b, x, positions: [1, 2]) } }
        #expect(b.graphStats.replays == 1)
        let direct = driver.directLaunches
        b.deviceStep(shape: "s") { Self.step(b, x, positions: [1, 2], eps: 1e-6) }
        #expect(b.graphStats.mismatches == 1 && driver.directLaunches == direct + 2, "the mismatching step ran eagerly")
        b.deviceStep(shape: "s") { Self.step(b, x, positions: [1, 2], eps: 1e-6) }
        #expect(b.graphStats.captures == 2, "captured again with the new argument")
    }

    @Test func aStepThatReadsTheDeviceIsNeverReplayed() throws {
        let (b, driver, dir) = try Self.backend()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let x = b.zeros([2, 64])
        for _ in 0..<4 {
            b.deviceStep(shape: "r") {
                Self.step(b, x, positions: [1, 2])
                _ = b.read(x, rows: 1)
            }
        }
        #expect(b.graphStats.replays == 0 && b.graphStats.failedCaptures == 2, "two failed captures, then it stays eager")
        // Every step ran eagerly (two launches each); the two discarded captures recorded theirs.
        #expect(driver.graphLaunches == 0 && driver.directLaunches == 4 * 2 && driver.capturedLaunches == 2 * 2)
    }

    @Test func aStagedArrayPastItsSlotFallsBackToEager() throws {
        let (b, _, dir) = try Self.backend()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let x = b.zeros([2, 64])
        let long = [Int32](repeating: 3, count: 100)
        b.deviceStep(shape: "g") { _ = b.stage([[1, 2]]); Self.step(b, x, positions: [1, 2]) }
        b.deviceStep(shape: "g") { _ = b.stage([[1, 2]]); Self.step(b, x, positions: [1, 2]) }
        // The first slot holds 256 - 64 entries: 300 do not fit.
        b.deviceStep(shape: "g") { _ = b.stage([long + long + long]); Self.step(b, x, positions: [1, 2]) }
        #expect(b.graphStats.captures == 1 && b.graphStats.mismatches == 1 && b.graphStats.replays == 0)
    }
}

/// A driver whose device memory is host memory and whose kernels are names: launches are counted (direct,
/// or recorded into a capture), graphs are the recorded lists, and the last copy into device memory is kept.
final class RecordingDriver: GPUDriver {
    let vendor = "test", deviceName = "recording", architecture = "rec_0", compilerVersion = "rec1.0"
    let codeObjectExtension = "bin", warpSize = 32, fp8Encoding = FP8Encoding.e4m3fn
    var multiprocessorCount: Int { 4 }
    var directLaunches = 0, capturedLaunches = 0, graphLaunches = 0
    var lastStagingCopy: [Int32] = []
    private var capturing: Int?
    private var graphs: [UnsafeMutableRawPointer: Int] = [:]
    private var functions: [String: UnsafeMutableRawPointer] = [:]
    /// With `branches`, a second stream: forks, joins and each launch's kernel and stream, in order.
    var branches = false
    var log: [String] = []
    private var onSide = false
    var supportsBranches: Bool { branches }
    func fork() throws(GPUError) { log.append("fork"); onSide = true }
    func endFork() { log.append("endFork"); onSide = false }
    func join() throws(GPUError) { log.append("join") }

    func compile(source: String, header: String) throws(GPUError) -> [UInt8] { [1] }
    func makeCurrent() throws(GPUError) {}
    func memoryInfo() throws(GPUError) -> (free: Int, total: Int) { (1 << 30, 1 << 30) }
    func allocate(_ bytes: Int) throws(GPUError) -> UnsafeMutableRawPointer { .allocate(byteCount: bytes, alignment: 256) }
    func free(_ pointer: UnsafeMutableRawPointer) { pointer.deallocate() }
    func copyToDevice(_ d: UnsafeMutableRawPointer, from s: UnsafeRawPointer, bytes: Int) throws(GPUError) { d.copyMemory(from: s, byteCount: bytes) }
    func copyToHost(_ d: UnsafeMutableRawPointer, from s: UnsafeRawPointer, bytes: Int) throws(GPUError) { d.copyMemory(from: s, byteCount: bytes) }
    func fill(_ d: UnsafeMutableRawPointer, byte: UInt8, bytes: Int) throws(GPUError) { d.initializeMemory(as: UInt8.self, repeating: byte, count: bytes) }
    func allocatePinned(_ bytes: Int) throws(GPUError) -> UnsafeMutableRawPointer { .allocate(byteCount: bytes, alignment: 256) }
    func freePinned(_ pointer: UnsafeMutableRawPointer) { pointer.deallocate() }
    func copyToDeviceAsync(_ d: UnsafeMutableRawPointer, from s: UnsafeRawPointer, bytes: Int) throws(GPUError) {
        d.copyMemory(from: s, byteCount: bytes)
        lastStagingCopy = Array(UnsafeBufferPointer(start: s.assumingMemoryBound(to: Int32.self), count: bytes / 4))
    }
    func synchronize() throws(GPUError) {}
    func makeEvent() throws(GPUError) -> OpaquePointer { OpaquePointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)) }
    func record(_ event: OpaquePointer) throws(GPUError) {}
    func waitFor(_ event: OpaquePointer) throws(GPUError) {}
    func milliseconds(from start: OpaquePointer, to end: OpaquePointer) throws(GPUError) -> Float { 0 }
    func destroy(_ event: OpaquePointer) { UnsafeMutableRawPointer(event).deallocate() }
    func loadModule(_ image: [UInt8]) throws(GPUError) -> OpaquePointer { OpaquePointer(bitPattern: 1)! }
    func function(_ name: String, in module: OpaquePointer) throws(GPUError) -> OpaquePointer {
        if functions[name] == nil { functions[name] = .allocate(byteCount: 1, alignment: 1) }
        return OpaquePointer(functions[name]!)
    }
    func launch(_ f: OpaquePointer, grid: (x: Int, y: Int), block: Int,
                parameters: UnsafeMutablePointer<UnsafeMutableRawPointer?>) throws(GPUError) {
        if let n = capturing { capturing = n + 1 } else { directLaunches += 1 }
        let name = functions.first { $0.value == UnsafeMutableRawPointer(f) }?.key ?? "?"
        log.append((onSide ? "side:" : "main:") + name)
    }
    func beginCapture() throws(GPUError) { capturing = 0 }
    func endCapture() throws(GPUError) -> OpaquePointer {
        let graph = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)
        graphs[graph] = capturing ?? 0
        capturedLaunches += capturing ?? 0
        capturing = nil
        return OpaquePointer(graph)
    }
    func launchGraph(_ graph: OpaquePointer) throws(GPUError) { graphLaunches += 1 }
    func destroyGraph(_ graph: OpaquePointer) { graphs[UnsafeMutableRawPointer(graph)] = nil }
}
