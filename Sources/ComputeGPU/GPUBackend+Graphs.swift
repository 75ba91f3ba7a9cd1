import Compute

/// Decode steps captured once into a graph (CUDA graphs, HIP graphs) and replayed: a replayed step's
/// kernels follow each other on the device with no gap for the host to fill, and the host issues one
/// graph launch instead of hundreds of kernel launches.
///
/// How a step becomes a graph, per step shape (the model's key: "decode, 64 rows, 64 logit rows"):
/// - The first step of a shape runs eagerly and measures what it stages (token ids, positions, slot lists).
/// - The second is captured: its launches are recorded (not run) on the stream, each staged array gets a
///   slot of fixed address and room to grow (a power of two) in the graph's own staging area, and every
///   launch's function, grid and argument bytes are kept as the graph's signature. The graph then runs.
/// - Later steps of the shape run the model's host code with launches switched off: each launch is
///   compared with the signature and each staged array written into its slot. If all match, the staging
///   area is copied up and the graph launched; the step's inputs differ only in the staged contents.
/// - Any difference (an argument that changed, an array grown past its slot, a buffer reallocated, a read
///   of device memory inside the step) drops the graph and runs the step eagerly; the shape is captured
///   again next time. So a replay can never run kernels with arguments other than those eager would use.
///
/// HERD_GRAPHS=0 turns graphs off (for comparisons); profiled steps always run eagerly.
extension GPUBackend {
    /// What launches, staging and device reads do right now.
    enum GraphMode {
        /// Launch and stage as they come (the staging ring).
        case eager
        /// Recording a graph: launches go into it, staging into its fixed slots.
        case capturing(GraphRecorder)
        /// Checking a step against a graph: nothing is launched, staged arrays go into its slots.
        case replaying(GraphReplay)

        var isReplaying: Bool {
            if case .replaying = self { return true }
            return false
        }

        /// The step did something a graph cannot hold: a capture is discarded, a replay does not run.
        func markUnusable() {
            switch self {
            case .eager: break
            case .capturing(let recorder): recorder.spoiled = true
            case .replaying(let check): check.failed = true
            }
        }
    }

    /// Graph counts since start, for reports.
    public struct GraphStats: Sendable, CustomStringConvertible {
        public var captures = 0, replays = 0, mismatches = 0, failedCaptures = 0
        public var description: String {
            "\(replays) replays, \(captures) captures, \(mismatches) mismatches, \(failedCaptures) failed captures"
        }
    }

    /// Runs `body`, one step's device work, eagerly or through the graph of its `shape` (see above).
    public func deviceStep<T>(shape: String?, _ body: () -> T) -> T {
        guard let shape, useStepGraphs, profile == nil, case .eager = graphMode else { return body() }
        makeCurrent()
        if let graph = stepGraphs.graphs[shape] {
            if let result = replay(graph, shape: shape, body) { return result }
            stepGraphs.drop(shape, driver: driver)
            graphStats.mismatches += 1
            return measuredEagerStep(shape: shape, body)
        }
        guard let staging = stepGraphs.staging[shape], stepGraphs.failures[shape, default: 0] < 2 else {
            return measuredEagerStep(shape: shape, body)
        }
        return capture(shape: shape, staging: staging, body)
    }

    /// An eager step that notes how much it staged (the size of its graph's staging area, later).
    private func measuredEagerStep<T>(shape: String, _ body: () -> T) -> T {
        let bytes = stagedBytes, arrays = stagedArrays
        let result = body()
        stepGraphs.staging[shape] = (stagedBytes - bytes, stagedArrays - arrays)
        return result
    }

    private func capture<T>(shape: String, staging: (bytes: Int, arrays: Int), _ body: () -> T) -> T {
        // Room for every array at twice its size (slots are powers of two) plus the ring's 64-entry margin.
        let area = GraphStaging(backend: self, bytes: 2 * staging.bytes + 512 * staging.arrays + (64 << 10))
        /// Nothing of the step has run: it runs eagerly (a shape that fails twice stays eager).
        func failed() -> T {
            stepGraphs.failures[shape, default: 0] += 1
            graphStats.failedCaptures += 1
            return measuredEagerStep(shape: shape, body)
        }
        do { try driver.beginCapture() } catch { return failed() }
        let recorder = GraphRecorder(staging: area)
        let result = inMode(.capturing(recorder), body)
        let exec = try? driver.endCapture()
        for work in recorder.deferred { work() }
        guard let exec, !recorder.spoiled else {
            if let exec { driver.destroyGraph(exec) }
            return failed()
        }
        let graph = StepGraph(exec: exec, staging: area, signature: recorder.signature, slots: recorder.slots,
                              done: must { () throws(GPUError) in try driver.makeEvent() })
        stepGraphs.insert(graph, shape: shape, driver: driver)
        graphStats.captures += 1
        run(graph)
        return result
    }

    /// The step through `graph`, or nil (nothing queued) when it does not match.
    private func replay<T>(_ graph: StepGraph, shape: String, _ body: () -> T) -> T? {
        // The previous run of this graph must have copied its staging up before the host side is rewritten.
        if graph.launched { must { () throws(GPUError) in try driver.waitFor(graph.done) } }
        let check = GraphReplay(graph: graph)
        let result = inMode(.replaying(check), body)
        guard check.matches else { return nil }
        stepGraphs.touch(shape)
        graphStats.replays += 1
        run(graph)
        return result
    }

    /// `body` in `mode`, then eager again; the shared staging starts and ends empty (its pointer belongs
    /// to one mode's staging).
    private func inMode<T>(_ mode: GraphMode, _ body: () -> T) -> T {
        graphMode = mode
        sharedStaging = nil
        defer {
            graphMode = .eager
            sharedStaging = nil
        }
        return body()
    }

    /// Copies the graph's staging up and queues the graph.
    private func run(_ graph: StepGraph) {
        let area = graph.staging
        if area.used > 0 { must { () throws(GPUError) in try driver.copyToDeviceAsync(area.device, from: area.host, bytes: area.used) } }
        must { () throws(GPUError) in try driver.launchGraph(graph.exec) }
        must { () throws(GPUError) in try driver.record(graph.done) }
        graph.launched = true
    }

    /// One launch's identity for the signature: the function, grid, block and every argument's 8-byte slot.
    static func signature(function: OpaquePointer, grid: (Int, Int), block: Int, args: [Arg], into words: inout [UInt64]) {
        words.append(UInt64(UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(function)))))
        words.append(UInt64(grid.0) << 32 | UInt64(grid.1))
        words.append(UInt64(block) << 32 | UInt64(args.count))
        for a in args {
            switch a {
            case .ptr(let p): words.append(UInt64(UInt(bitPattern: p)))
            case .i32(let v): words.append(UInt64(UInt32(bitPattern: Int32(truncatingIfNeeded: v))))
            case .f32(let v): words.append(UInt64(v.bitPattern))
            case .u64(let v): words.append(v)
            }
        }
    }
}

/// A graph's fixed staging area: device memory its kernels read and the pinned host memory it is copied
/// from before each run. Freed with the graph.
final class GraphStaging {
    let device: UnsafeMutableRawPointer
    let host: UnsafeMutableRawPointer
    let bytes: Int
    /// Bytes handed out so far (capture) = bytes to copy up before each run.
    var used = 0
    private let driver: any GPUDriver

    init(backend: GPUBackend, bytes: Int) {
        driver = backend.driver
        self.bytes = bytes
        device = backend.must { () throws(GPUError) in try backend.driver.allocate(bytes) }
        host = backend.must { () throws(GPUError) in try backend.driver.allocatePinned(bytes) }
    }

    deinit {
        driver.free(device)
        driver.freePinned(host)
    }
}

/// One staged array's place in a graph's staging area.
struct GraphSlot {
    let offset: Int
    let capacity: Int  // Int32 entries
}

final class StepGraph {
    let exec: OpaquePointer
    let staging: GraphStaging
    let signature: [UInt64]
    let slots: [GraphSlot]
    /// Recorded after each run: the staging area's host side is free again once the device has passed it.
    let done: OpaquePointer
    var launched = false

    init(exec: OpaquePointer, staging: GraphStaging, signature: [UInt64], slots: [GraphSlot], done: OpaquePointer) {
        self.exec = exec
        self.staging = staging
        self.signature = signature
        self.slots = slots
        self.done = done
    }
}

/// The state of a capture in progress.
final class GraphRecorder {
    let staging: GraphStaging
    var signature: [UInt64] = []
    var slots: [GraphSlot] = []
    /// Set when the step did something a graph cannot hold (a device read, an allocation, a failed call):
    /// the capture is discarded.
    var spoiled = false
    /// Device work that cannot happen while the stream is being captured (zero-filling a new allocation),
    /// done right after the capture ends.
    var deferred: [() -> Void] = []

    init(staging: GraphStaging) { self.staging = staging }

    /// A slot for `count` entries: a power of two with the ring's margin, so that the array can grow a little.
    func slot(count: Int) -> GraphSlot? {
        var capacity = 256
        while capacity < count + 64 { capacity *= 2 }
        guard staging.used + capacity * 4 <= staging.bytes else { return nil }
        let s = GraphSlot(offset: staging.used, capacity: capacity)
        staging.used += capacity * 4
        slots.append(s)
        return s
    }
}

/// The state of a replay check in progress.
final class GraphReplay {
    let graph: StepGraph
    /// Next signature word and next slot.
    var word = 0, slot = 0
    var failed = false

    init(graph: StepGraph) { self.graph = graph }

    /// Everything the step did matched the graph, and it did all of it.
    var matches: Bool { !failed && word == graph.signature.count && slot == graph.slots.count }

    func check(_ words: [UInt64]) {
        guard !failed else { return }
        let signature = graph.signature
        guard word + words.count <= signature.count else { failed = true; return }
        for (i, w) in words.enumerated() where signature[word + i] != w {
            failed = true
            return
        }
        word += words.count
    }

    /// The next slot, when `count` entries fit in it.
    func nextSlot(count: Int) -> GraphSlot? {
        guard !failed, slot < graph.slots.count, count <= graph.slots[slot].capacity else {
            failed = true
            return nil
        }
        slot += 1
        return graph.slots[slot - 1]
    }
}

/// The graphs of the shapes seen, least recently used first out once `limit` graphs or `stagingLimit` bytes
/// of staging are held.
struct StepGraphs {
    var graphs: [String: StepGraph] = [:]
    /// Per shape, what its last eager step staged (bytes, arrays): the size of its graph's staging area.
    var staging: [String: (bytes: Int, arrays: Int)] = [:]
    /// Per shape, captures that failed (a shape that fails twice stays eager).
    var failures: [String: Int] = [:]
    private var order: [String] = []
    let limit = 48
    let stagingLimit = 1 << 30

    mutating func insert(_ graph: StepGraph, shape: String, driver: any GPUDriver) {
        drop(shape, driver: driver)
        graphs[shape] = graph
        order.append(shape)
        while graphs.count > limit || graphs.values.reduce(0, { $0 + $1.staging.bytes }) > stagingLimit, let oldest = order.first,
              oldest != shape {
            drop(oldest, driver: driver)
        }
    }

    mutating func touch(_ shape: String) {
        if let i = order.firstIndex(of: shape) { order.remove(at: i) }
        order.append(shape)
    }

    mutating func drop(_ shape: String, driver: any GPUDriver) {
        guard let graph = graphs.removeValue(forKey: shape) else { return }
        if let i = order.firstIndex(of: shape) { order.remove(at: i) }
        // A graph may still be running (its last launch): wait before freeing what it reads.
        if graph.launched { try? driver.waitFor(graph.done) }
        driver.destroyGraph(graph.exec)
        driver.destroy(graph.done)
    }
}

// MARK: concurrent branches

extension GPUBackend {
    /// Runs `side` on the driver's second stream, beside what is queued after it until `joinBranches()` (in a
    /// captured step, a parallel branch of the graph), where `branchable`; never while profiling (its events
    /// time the main stream). `side` gets its own tensor-core scratch (split and partial buffers) and no split
    /// shared with the main stream's products. HERD_BRANCHES=0 runs it in place.
    public func branch(rows: Int, weights: [Tensor], _ side: () -> Void) {
        let replaying = graphMode.isReplaying
        guard concurrentBranches, branchable(rows: rows, weights: weights), profile == nil, driver.supportsBranches else {
            side()
            return
        }
        joinBranches()  // one branch at a time
        // A replay queues nothing, but checks the step's launches against the graph's: the same buffers.
        if !replaying {
            guard forked({ () throws(GPUError) in try driver.fork() }) else { side(); return }
        }
        let main = (buffers: mmaBuffers, split: sharedSplit, sharing: sharesSplits)
        (mmaBuffers, sharedSplit, sharesSplits) = (sideMMABuffers, nil, false)
        side()
        sideMMABuffers = mmaBuffers  // as the side grew them
        (mmaBuffers, sharedSplit, sharesSplits) = main
        if !replaying {
            driver.endFork()
            branchPending = true
        }
    }

    /// Whether products of `weights` at `rows` rows can run beside the main stream: at one row every product
    /// runs on the GEMV (no scratch at all); FP8 decode-sized products (with `branchesFP8Decode`) run on
    /// Herd's skinny and split-k kernels, whose scratch `branch` swaps for the side's own. BF16 ones above one
    /// row call cuBLASLt, which stays on the stream it was created on and has one workspace.
    func branchable(rows: Int, weights: [Tensor]) -> Bool {
        rows == 1 || (branchesFP8Decode && rows <= Self.splitKRows && !weights.isEmpty && weights.allSatisfy { $0.dtype == .f8_e4m3 })
    }

    public func joinBranches() {
        guard branchPending else { return }
        branchPending = false
        _ = forked({ () throws(GPUError) in try driver.join() })
    }

    /// A fork or join: true when queued. Inside a capture a refusal discards the capture (the step runs
    /// eagerly, as for any launch the capture cannot hold); outside one it is a lost device.
    private func forked(_ call: () throws(GPUError) -> Void) -> Bool {
        makeCurrent()
        do {
            try call()
            return true
        } catch {
            if case .capturing(let recorder) = graphMode { recorder.spoiled = true; return false }
            fatalError("\(driver.vendor): \(error)")
        }
    }
}
