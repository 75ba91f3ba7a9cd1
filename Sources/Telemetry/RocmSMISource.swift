import CTelemetry
import SharedLibraries

/// AMD GPUs through rocm-smi (`librocm_smi64`), loaded at run time. Units from rocm_smi.h: memory in
/// bytes, power in microwatts, temperature in millidegrees Celsius, busy in percent.
public final class RocmSMISource: TelemetrySource {
    /// ROCm 6.x ships `.so.7`, ROCm 5.x `.so.6`... Debian's packages ship `.so.5` / `.so.1`.
    public static let sonames = ["librocm_smi64.so.7", "librocm_smi64.so.6", "librocm_smi64.so.5", "librocm_smi64.so.1",
                                 "librocm_smi64.so"]
    public let name = "rocm-smi"
    public let isGPU = true
    private var api = herd_rsmi_table()
    private let deviceCount: Int
    private var names: [Int: String] = [:]

    public init() throws(TelemetryUnavailable) {
        let handle = try SharedLibrary.open(Self.sonames)
        if let missing = herd_rsmi_load(handle, &api) {
            throw TelemetryUnavailable("the loaded librocm_smi64 lacks \(String(cString: missing))")
        }
        let status = api.initialize(0)
        guard status == 0 else { throw TelemetryUnavailable("rsmi_init failed: \(Self.describe(status, api))") }
        var count: UInt32 = 0
        let countStatus = api.num_monitor_devices(&count)
        guard countStatus == 0 else {
            _ = api.shut_down()
            throw TelemetryUnavailable("rsmi_num_monitor_devices failed: \(Self.describe(countStatus, api))")
        }
        guard count > 0 else {
            _ = api.shut_down()
            throw TelemetryUnavailable("no AMD GPU found")
        }
        deviceCount = Int(count)
        started = true
    }

    /// Set once the library is initialised: a throwing init still runs deinit, which must not shut down
    /// what never started.
    private var started = false

    deinit { if started { _ = api.shut_down() } }

    static func describe(_ status: herd_rsmi_status_t, _ api: herd_rsmi_table) -> String {
        var text: UnsafePointer<CChar>? = nil
        if api.status_string(status, &text) == 0, let text { return String(cString: text) }
        return "status \(status)"
    }

    public func read() throws(TelemetryUnavailable) -> [DeviceReading] {
        (0..<deviceCount).map { i in
            let d = UInt32(i)
            var r = DeviceReading(index: i, name: deviceName(d))
            var u64: UInt64 = 0, u32: UInt32 = 0, i64: Int64 = 0
            if let f = api.dev_memory_total_get, f(d, UInt32(HERD_RSMI_MEM_TYPE_VRAM), &u64) == 0 { r.memoryTotalBytes = u64 }
            if let f = api.dev_memory_usage_get, f(d, UInt32(HERD_RSMI_MEM_TYPE_VRAM), &u64) == 0 { r.memoryUsedBytes = u64 }
            if let f = api.dev_power_ave_get, f(d, 0, &u64) == 0 { r.powerWatts = Double(u64) / 1e6 }
            if let f = api.dev_power_cap_get, f(d, 0, &u64) == 0 { r.powerCapWatts = Double(u64) / 1e6 }
            if let f = api.dev_busy_percent_get, f(d, &u32) == 0 { r.utilization = Double(u32) / 100 }
            if let f = api.dev_temp_metric_get {
                // MI300X reports no edge sensor; junction (hotspot) is the one it has.
                if f(d, UInt32(HERD_RSMI_TEMP_TYPE_EDGE), UInt32(HERD_RSMI_TEMP_CURRENT), &i64) == 0
                    || f(d, UInt32(HERD_RSMI_TEMP_TYPE_JUNCTION), UInt32(HERD_RSMI_TEMP_CURRENT), &i64) == 0 {
                    r.temperatureCelsius = Double(i64) / 1000
                }
            }
            return r
        }
    }

    private func deviceName(_ d: UInt32) -> String {
        if let cached = names[Int(d)] { return cached }
        var buffer = [CChar](repeating: 0, count: 128)
        var name = "AMD GPU"
        if let f = api.dev_name_get, f(d, &buffer, buffer.count) == 0 { name = cString(buffer) }
        names[Int(d)] = name
        return name
    }
}
