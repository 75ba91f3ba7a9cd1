import Foundation

/// Device time per kernel while profiling is on (`GPUBackend.profile`): every launch (and every
/// synchronous copy or cuBLASLt call) is bracketed by two events recorded on the stream, so nothing is
/// synchronized in between and the step runs as it normally does. `finish` reads the events: each
/// kernel's own time, and the gaps where the device waited between one launch's end and the next one's
/// start (launch overhead and host work the GPU had to wait for).
public final class KernelProfile: @unchecked Sendable {
    public struct Entry: Sendable {
        public var name: String
        public var launches: Int
        public var seconds: Double
    }
    private var pending: [(name: String, start: OpaquePointer, end: OpaquePointer)] = []
    /// Inside a bracketed call (cuBLASLt with its helper kernels): inner launches count toward it.
    fileprivate var depth = 0
    private var entries: [String: Entry] = [:]
    /// Idle device time between consecutive launches, and first start to last end, after `finish`.
    public private(set) var gapSeconds: Double = 0
    public private(set) var spanSeconds: Double = 0

    public init() {}

    func add(_ name: String, start: OpaquePointer, end: OpaquePointer) { pending.append((name, start, end)) }

    /// Waits for the recorded work and turns the events into per-kernel times and gaps.
    func finish(_ driver: any GPUDriver) {
        var previousEnd: OpaquePointer?
        for item in pending {
            let ms = (try? driver.milliseconds(from: item.start, to: item.end)) ?? 0
            entries[item.name, default: Entry(name: item.name, launches: 0, seconds: 0)].launches += 1
            entries[item.name]!.seconds += Double(ms) / 1e3
            if let previousEnd { gapSeconds += Double(max(0, (try? driver.milliseconds(from: previousEnd, to: item.start)) ?? 0)) / 1e3 }
            previousEnd = item.end
        }
        if let first = pending.first, let last = pending.last {
            spanSeconds = Double((try? driver.milliseconds(from: first.start, to: last.end)) ?? 0) / 1e3
        }
        for item in pending {
            driver.destroy(item.start)
            driver.destroy(item.end)
        }
        pending = []
    }

    /// Kernels by total time, longest first.
    public var byTime: [Entry] { entries.values.sorted { $0.seconds > $1.seconds } }
    public var totalSeconds: Double { entries.values.reduce(0) { $0 + $1.seconds } }
}

extension GPUBackend {
    /// Runs `launch` between two events and files it under `name` (launches inside it are not timed apart).
    func profiled(_ name: String, _ profile: KernelProfile, _ launch: () -> Void) {
        if profile.depth > 0 { return launch() }
        profile.depth += 1
        defer { profile.depth -= 1 }
        let start = must { () throws(GPUError) in try driver.makeEvent() }
        let end = must { () throws(GPUError) in try driver.makeEvent() }
        must { () throws(GPUError) in try driver.record(start) }
        launch()
        must { () throws(GPUError) in try driver.record(end) }
        profile.add(name, start: start, end: end)
    }

    /// Ends a profile started by setting `profile`: waits for the device and computes the times.
    public func finishProfile() -> KernelProfile? {
        guard let profile else { return nil }
        self.profile = nil
        profile.finish(driver)
        return profile
    }
}
