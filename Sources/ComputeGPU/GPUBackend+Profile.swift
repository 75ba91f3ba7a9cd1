import Foundation

/// Device time per kernel while profiling is on (`GPUBackend.profile`): each launch is bracketed by
/// device synchronizations, so the times are the kernels' own (launch gaps and host work excluded) and
/// the sum over a step compared with the step's normal time shows what the host and gaps cost.
public final class KernelProfile: @unchecked Sendable {
    public struct Entry: Sendable {
        public var name: String
        public var launches: Int
        public var seconds: Double
    }
    private var entries: [String: Entry] = [:]

    public init() {}

    func add(_ name: String, seconds: Double) {
        entries[name, default: Entry(name: name, launches: 0, seconds: 0)].launches += 1
        entries[name]!.seconds += seconds
    }

    /// Kernels by total time, longest first.
    public var byTime: [Entry] { entries.values.sorted { $0.seconds > $1.seconds } }
    public var totalSeconds: Double { entries.values.reduce(0) { $0 + $1.seconds } }
    public func reset() { entries = [:] }
}

extension GPUBackend {
    /// Runs `launch` between two device synchronizations and records its time under `name`.
    func profiled(_ name: String, _ profile: KernelProfile, _ launch: () -> Void) {
        must { () throws(GPUError) in try driver.synchronize() }
        let start = DispatchTime.now().uptimeNanoseconds
        launch()
        must { () throws(GPUError) in try driver.synchronize() }
        profile.add(name, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
}
