import Foundation

/// The host's CPU use and RAM from /proc, so a machine without a GPU still shows what the engine costs.
public final class HostSource: TelemetrySource {
    public let name = "host"
    public let isGPU = false
    private let procRoot: String
    private var lastCPU: ProcStat.CPUTimes?
    private let cores = ProcessInfo.processInfo.activeProcessorCount

    /// `procRoot` lets tests point it at fixture files.
    public init(procRoot: String = "/proc") { self.procRoot = procRoot }

    public func read() throws(TelemetryUnavailable) -> [DeviceReading] {
        guard let stat = try? String(contentsOfFile: procRoot + "/stat", encoding: .utf8),
              let times = ProcStat.cpuTimes(stat) else { throw TelemetryUnavailable("cannot read \(procRoot)/stat") }
        guard let meminfo = try? String(contentsOfFile: procRoot + "/meminfo", encoding: .utf8),
              let memory = ProcStat.memory(meminfo) else { throw TelemetryUnavailable("cannot read \(procRoot)/meminfo") }
        // CPU use needs two readings; the first one has none (shown as `--`, not 0).
        let utilization = lastCPU.flatMap { times.busyFraction(since: $0) }
        lastCPU = times
        return [DeviceReading(index: 0, name: "\(cores) CPUs", memoryUsedBytes: memory.total - memory.available,
                              memoryTotalBytes: memory.total, utilization: utilization)]
    }
}

/// Parsers for /proc/stat and /proc/meminfo (pure functions, tested on fixture text).
public enum ProcStat {
    public struct CPUTimes: Equatable, Sendable {
        public var busy: UInt64
        public var total: UInt64
        /// Busy share of the time between `earlier` and this reading; nil if no time passed.
        public func busyFraction(since earlier: CPUTimes) -> Double? {
            guard total > earlier.total, busy >= earlier.busy else { return nil }
            return min(1, Double(busy - earlier.busy) / Double(total - earlier.total))
        }
    }

    /// The aggregate `cpu` line: user nice system idle iowait irq softirq steal (guest time is already in user).
    public static func cpuTimes(_ stat: String) -> CPUTimes? {
        guard let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        let v = line.split(separator: " ").dropFirst().prefix(8).compactMap { UInt64($0) }
        guard v.count >= 4 else { return nil }
        let idle = v[3] + (v.count > 4 ? v[4] : 0)
        let total = v.reduce(0, +)
        return CPUTimes(busy: total - idle, total: total)
    }

    /// MemTotal and MemAvailable in bytes.
    public static func memory(_ meminfo: String) -> (total: UInt64, available: UInt64)? {
        var total: UInt64?, available: UInt64?
        for line in meminfo.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let kib = UInt64(parts[1]) else { continue }
            if parts[0] == "MemTotal:" { total = kib * 1024 }
            if parts[0] == "MemAvailable:" { available = kib * 1024 }
        }
        guard let total, let available, available <= total else { return nil }
        return (total, available)
    }
}
