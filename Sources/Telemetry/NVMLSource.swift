import CTelemetry
import SharedLibraries

/// NVIDIA GPUs through NVML (`libnvidia-ml.so.1`, installed with the driver), loaded at run time. Units
/// from nvml.h: memory in bytes, power in milliwatts, temperature in degrees Celsius, utilisation in percent.
public final class NVMLSource: TelemetrySource {
    public static let sonames = ["libnvidia-ml.so.1", "libnvidia-ml.so"]
    public let name = "nvml"
    public let isGPU = true
    private var api = herd_nvml_table()
    private var devices: [herd_nvml_device_t?] = []
    private var names: [String] = []

    public init() throws(TelemetryUnavailable) {
        let handle = try SharedLibrary.open(Self.sonames)
        if let missing = herd_nvml_load(handle, &api) {
            throw TelemetryUnavailable("the loaded libnvidia-ml lacks \(String(cString: missing))")
        }
        let status = api.initialize()
        guard status == 0 else { throw TelemetryUnavailable("nvmlInit_v2 failed: \(describe(status))") }
        var count: UInt32 = 0
        let countStatus = api.device_get_count(&count)
        guard countStatus == 0, count > 0 else {
            let reason = countStatus == 0 ? "no NVIDIA GPU found" : "nvmlDeviceGetCount_v2 failed: \(describe(countStatus))"
            _ = api.shutdown()
            throw TelemetryUnavailable(reason)
        }
        for i in 0..<count {
            var device: herd_nvml_device_t? = nil
            let s = api.device_get_handle_by_index(i, &device)
            devices.append(s == 0 ? device : nil)
            var buffer = [CChar](repeating: 0, count: 96)
            if s == 0, let f = api.device_get_name, f(device, &buffer, UInt32(buffer.count)) == 0 {
                names.append(cString(buffer))
            } else {
                names.append("NVIDIA GPU")
            }
        }
        started = true
    }

    /// Set once the library is initialised: a throwing init still runs deinit, which must not shut down
    /// what never started.
    private var started = false

    deinit { if started { _ = api.shutdown() } }

    private func describe(_ status: herd_nvml_return_t) -> String {
        api.error_string(status).map { String(cString: $0) } ?? "status \(status)"
    }

    public func read() throws(TelemetryUnavailable) -> [DeviceReading] {
        devices.enumerated().map { i, device in
            var r = DeviceReading(index: i, name: names[i])
            guard let device else { return r }
            var memory = herd_nvml_memory_t(), util = herd_nvml_utilization_t(), u32: UInt32 = 0
            if let f = api.device_get_memory_info, f(device, &memory) == 0 {
                r.memoryUsedBytes = UInt64(memory.used)
                r.memoryTotalBytes = UInt64(memory.total)
            }
            if let f = api.device_get_power_usage, f(device, &u32) == 0 { r.powerWatts = Double(u32) / 1000 }
            if let f = api.device_get_enforced_power_limit, f(device, &u32) == 0 { r.powerCapWatts = Double(u32) / 1000 }
            if let f = api.device_get_utilization_rates, f(device, &util) == 0 { r.utilization = Double(util.gpu) / 100 }
            if let f = api.device_get_temperature, f(device, UInt32(HERD_NVML_TEMPERATURE_GPU), &u32) == 0 {
                r.temperatureCelsius = Double(u32)
            }
            return r
        }
    }
}
