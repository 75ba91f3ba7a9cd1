/// One device's readings at one moment. Every field a source could not read is nil, so the console shows
/// `--` instead of a made-up 0.
public struct DeviceReading: Sendable, Equatable {
    public var index: Int
    public var name: String
    public var memoryUsedBytes: UInt64?
    public var memoryTotalBytes: UInt64?
    public var powerWatts: Double?
    public var powerCapWatts: Double?
    /// Busy fraction, 0...1.
    public var utilization: Double?
    public var temperatureCelsius: Double?

    public init(index: Int, name: String, memoryUsedBytes: UInt64? = nil, memoryTotalBytes: UInt64? = nil,
                powerWatts: Double? = nil, powerCapWatts: Double? = nil, utilization: Double? = nil,
                temperatureCelsius: Double? = nil) {
        self.index = index
        self.name = name
        self.memoryUsedBytes = memoryUsedBytes
        self.memoryTotalBytes = memoryTotalBytes
        self.powerWatts = powerWatts
        self.powerCapWatts = powerCapWatts
        self.utilization = utilization
        self.temperatureCelsius = temperatureCelsius
    }
}

/// Why a source gives no readings: the library is missing, it found no device, or a call failed.
public struct TelemetryUnavailable: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ reason: String) { description = reason }
}

/// A reader of device metrics (rocm-smi, NVML, the host's /proc). Sources are opened and read only on the
/// sampler's background thread, so a slow library call never blocks the screen.
public protocol TelemetrySource: AnyObject {
    /// Short name shown in the console ("rocm-smi", "nvml", "host").
    var name: String { get }
    /// Whether its devices are GPUs (the host source is not).
    var isGPU: Bool { get }
    func read() throws(TelemetryUnavailable) -> [DeviceReading]
}
