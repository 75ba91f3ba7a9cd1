import Foundation
import Synchronization

/// What one source last said, as the console sees it.
public struct SourceState: Sendable {
    public enum Status: Sendable, Equatable {
        /// Not opened yet (the sampler thread is loading the library).
        case starting
        case ok
        /// The source cannot work here (library missing, no device); never retried.
        case unavailable(String)
        /// The last read failed; `devices` are older readings, shown as stale.
        case failed(String)
    }
    public var name: String
    public var isGPU: Bool
    public var status: Status = .starting
    /// The last good readings.
    public var devices: [DeviceReading] = []
    /// Monotonic time (`Monotonic.seconds()`) of the last good reading.
    public var updated: Double?
    /// Per device, its utilisation at each sample (oldest first); nil where it could not be read.
    public var utilizationHistory: [[Double?]] = []
}

public struct TelemetrySnapshot: Sendable {
    public var sources: [SourceState]
    /// Seconds between samples.
    public var interval: Double
    /// CPU time the sampler thread has used, for the console's own-cost figure.
    public var samplerCPUSeconds: Double = 0

    /// Readings older than this many seconds are shown as stale.
    public var staleAfter: Double { interval * 3 + 0.5 }
}

/// Reads every source on its own background thread once per interval and keeps the latest readings, so
/// `snapshot()` never waits on a device library (a slow or hung rocm-smi call leaves the screen live and
/// its readings marked stale).
///
/// `@unchecked Sendable`: `factories` are immutable; `state` is a Mutex; `wake` guards `stopping`.
public final class TelemetrySampler: @unchecked Sendable {
    public struct Factory: Sendable {
        public var name: String
        public var isGPU: Bool
        public var open: @Sendable () throws -> any TelemetrySource
        public init(name: String, isGPU: Bool, open: @escaping @Sendable () throws -> any TelemetrySource) {
            self.name = name
            self.isGPU = isGPU
            self.open = open
        }
    }

    /// Samples of history kept per device.
    public static let historyLength = 120
    private let factories: [Factory]
    private let state: Mutex<TelemetrySnapshot>
    private let wake = NSCondition()
    private var stopping = false
    private var thread: Thread?

    public init(interval: Double = 1, factories: [Factory] = TelemetrySampler.defaultFactories) {
        self.factories = factories
        state = Mutex(TelemetrySnapshot(sources: factories.map { SourceState(name: $0.name, isGPU: $0.isGPU) }, interval: interval))
    }

    /// rocm-smi, NVML and the host: whichever GPU library is present shows its GPUs, the others say why not.
    /// The host comes first: it opens at once, so its row is there while a GPU library is still loading.
    public static let defaultFactories: [Factory] = [
        Factory(name: "host", isGPU: false) { HostSource() },
        Factory(name: "rocm-smi", isGPU: true) { try RocmSMISource() },
        Factory(name: "nvml", isGPU: true) { try NVMLSource() },
    ]

    public func snapshot() -> TelemetrySnapshot { state.withLock { $0 } }

    public func start() {
        let thread = Thread { [self] in self.run() }
        thread.name = "herd-telemetry"
        self.thread = thread
        thread.start()
    }

    public func stop() {
        wake.lock()
        stopping = true
        wake.signal()
        wake.unlock()
    }

    private func run() {
        // Each source is read as soon as it is open, so a slow library does not hold back the others.
        var sources: [(any TelemetrySource)?] = []
        for (i, factory) in factories.enumerated() {
            do {
                let source = try factory.open()
                sources.append(source)
                read(source, i)
            } catch {
                sources.append(nil)
                state.withLock { $0.sources[i].status = .unavailable("\(error)") }
            }
        }
        let interval = state.withLock { $0.interval }
        var first = true
        while true {
            if !first {
                for (i, source) in sources.enumerated() { if let source { read(source, i) } }
            }
            first = false
            let cpu = ThreadCPUClock.seconds()
            state.withLock { $0.samplerCPUSeconds = cpu }
            wake.lock()
            if !stopping { _ = wake.wait(until: Date().addingTimeInterval(interval)) }
            let stop = stopping
            wake.unlock()
            if stop { return }
        }
    }

    private func read(_ source: any TelemetrySource, _ i: Int) {
        let result = Result { () throws(TelemetryUnavailable) in try source.read() }
        let at = Monotonic.seconds()
        state.withLock { s in
            switch result {
            case .success(let devices): Self.record(devices, at: at, into: &s.sources[i])
            case .failure(let error): s.sources[i].status = .failed(error.description)
            }
        }
    }

    static func record(_ devices: [DeviceReading], at: Double, into s: inout SourceState) {
        s.status = .ok
        s.devices = devices
        s.updated = at
        if s.utilizationHistory.count != devices.count {
            s.utilizationHistory = Array(repeating: [], count: devices.count)
        }
        for (d, device) in devices.enumerated() {
            s.utilizationHistory[d].append(device.utilization)
            if s.utilizationHistory[d].count > historyLength { s.utilizationHistory[d].removeFirst() }
        }
    }
}

/// Seconds on a clock that never jumps (for ages and rates).
public enum Monotonic {
    public static func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}

/// CPU time used by the calling thread, so the console can show what drawing and sampling cost.
public enum ThreadCPUClock {
    public static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
