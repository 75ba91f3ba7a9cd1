import Compute
import Foundation

/// Logit summaries on the device (herd_sampling.cu): the engine samples from a few hundred bytes per row
/// instead of copying `rows x vocabulary` logits to the host each step. The CPU twin is
/// `LogitSummary.host` (the protocol's default `summarizeLogits`).
extension GPUBackend {
    /// herd_sampling.cu
    static let samplingKernelNames: [String] = ["herd_logits_chunk_summary", "herd_logits_merge_summary"]

    /// Logits per chunk record (HERD_SAMPLE_CHUNK) and the most top entries a record holds.
    static let summaryChunk = 4096
    static let summaryMaxTop = 64

    /// On unless HERD_DEVICE_SAMPLING=0 (for comparisons with the host sampler).
    public var prefersDeviceSampling: Bool { Self.deviceSampling }
    private static let deviceSampling = ProcessInfo.processInfo.environment["HERD_DEVICE_SAMPLING"] != "0"

    public func summarizeLogits(_ logits: Tensor, rows: Int, vocabulary: Int, top: Int, requests: [LogitSummaryRequest]) -> [LogitSummary] {
        precondition(requests.count == rows && vocabulary <= logits.rowLength && logits.dtype == .f32, "one request per f32 row")
        precondition(top >= 1 && top <= Self.summaryMaxTop, "a summary holds 1...\(Self.summaryMaxTop) top logits, asked for \(top)")
        precondition(vocabulary > 0, "an empty vocabulary")
        guard rows > 0 else { return [] }
        let n = min(top, vocabulary)
        let width = 2 * n + 6
        let chunks = (vocabulary + Self.summaryChunk - 1) / Self.summaryChunk
        let perGroup = Self.summaryChunk / n
        let mergedLists = (chunks + perGroup - 1) / perGroup
        // Ping-pong between the chunk records and the first merge's (each later level is smaller).
        let firstFloats = rows * chunks * width, secondFloats = rows * mergedLists * width
        let scratch = SummaryScratch.shared.buffer(for: self, floats: firstFloats + secondFloats)
        var source = scratch.data, target = scratch.data + firstFloats * 4

        var params: [Int32] = []
        params.reserveCapacity(rows * 4)
        for r in requests {
            params += [Int32(bitPattern: r.inverseTemperature.bitPattern), Int32(truncatingIfNeeded: r.noiseKey),
                       Int32(truncatingIfNeeded: r.noiseKey >> 32), r.temperature > 0 ? 1 : 0]
        }
        let staged = stage([params])[0]
        launch("herd_logits_chunk_summary", grid: (rows, chunks), block: 256,
               [.ptr(logits.data), .i32(logits.rowLength), .i32(vocabulary), .ptr(staged), .i32(n), .ptr(source)])
        var lists = chunks
        while lists > 1 {
            let groups = (lists + perGroup - 1) / perGroup
            launch("herd_logits_merge_summary", grid: (rows, groups), block: 256,
                   [.ptr(source), .i32(lists), .ptr(staged), .i32(n), .ptr(target)])
            lists = groups
            swap(&source, &target)
        }
        var records = [Float](repeating: 0, count: rows * width)
        records.withUnsafeMutableBytes { copyToHost($0.baseAddress!, from: source, bytes: $0.count) }
        return (0..<rows).map { r in
            Self.decodeSummary(records[(r * width)..<((r + 1) * width)], n: n, vocabulary: vocabulary).finished(requests[r])
        }
    }

    /// A kernel record (n values, n ids as int bits, max, sum at T, sum at 1, draw key, draw id, draw logit).
    static func decodeSummary(_ record: ArraySlice<Float>, n: Int, vocabulary: Int) -> LogitSummary {
        let base = record.startIndex
        var ids: [Int32] = [], values: [Float] = []
        for k in 0..<n {
            let id = Int32(bitPattern: record[base + n + k].bitPattern)
            guard id >= 0 && Int(id) < vocabulary else { break }
            ids.append(id)
            values.append(record[base + k])
        }
        let stats = base + 2 * n
        var drawID = Int32(bitPattern: record[stats + 4].bitPattern)
        if drawID < 0 || Int(drawID) >= vocabulary { drawID = -1 }
        return LogitSummary(topIDs: ids, topLogits: values, maxLogit: values.first ?? -.infinity, expSum: record[stats + 1],
                            unitExpSum: record[stats + 2], gumbelID: drawID, gumbelLogit: drawID >= 0 ? record[stats + 5] : -.infinity)
    }
}

/// Each backend's scratch for summary records, grown to the largest call seen (GPUBackend's stored
/// properties live in GPUBackend.swift; this keeps the sampling path to its own file).
final class SummaryScratch: @unchecked Sendable {
    static let shared = SummaryScratch()
    private let lock = NSLock()
    private var entries: [ObjectIdentifier: (backend: Weak, buffer: Tensor)] = [:]

    final class Weak {
        weak var backend: GPUBackend?
        init(_ backend: GPUBackend) { self.backend = backend }
    }

    func buffer(for backend: GPUBackend, floats: Int) -> Tensor {
        lock.lock()
        defer { lock.unlock() }
        let key = ObjectIdentifier(backend)
        if let e = entries[key], e.backend.backend === backend, e.buffer.elementCount >= floats { return e.buffer }
        entries = entries.filter { $0.value.backend.backend != nil && $0.key != key }
        let buffer = backend.zeros([max(floats, 1 << 16)])
        entries[key] = (Weak(backend), buffer)
        return buffer
    }
}
