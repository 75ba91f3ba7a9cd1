// Fills the function-pointer tables with dlsym (required symbols first, then optional ones).
#include "CTelemetry.h"
#include <dlfcn.h>

#define REQUIRED(field, symbol) \
    if (!(table->field = (__typeof__(table->field))dlsym(handle, symbol))) return symbol;
#define OPTIONAL(field, symbol) table->field = (__typeof__(table->field))dlsym(handle, symbol);

const char *herd_rsmi_load(void *handle, herd_rsmi_table *table) {
    REQUIRED(initialize, "rsmi_init")
    REQUIRED(shut_down, "rsmi_shut_down")
    REQUIRED(num_monitor_devices, "rsmi_num_monitor_devices")
    REQUIRED(status_string, "rsmi_status_string")
    OPTIONAL(dev_name_get, "rsmi_dev_name_get")
    OPTIONAL(dev_memory_total_get, "rsmi_dev_memory_total_get")
    OPTIONAL(dev_memory_usage_get, "rsmi_dev_memory_usage_get")
    OPTIONAL(dev_power_ave_get, "rsmi_dev_power_ave_get")
    OPTIONAL(dev_power_cap_get, "rsmi_dev_power_cap_get")
    OPTIONAL(dev_busy_percent_get, "rsmi_dev_busy_percent_get")
    OPTIONAL(dev_temp_metric_get, "rsmi_dev_temp_metric_get")
    return NULL;
}

const char *herd_nvml_load(void *handle, herd_nvml_table *table) {
    REQUIRED(initialize, "nvmlInit_v2")
    REQUIRED(shutdown, "nvmlShutdown")
    REQUIRED(error_string, "nvmlErrorString")
    REQUIRED(device_get_count, "nvmlDeviceGetCount_v2")
    REQUIRED(device_get_handle_by_index, "nvmlDeviceGetHandleByIndex_v2")
    OPTIONAL(device_get_name, "nvmlDeviceGetName")
    OPTIONAL(device_get_memory_info, "nvmlDeviceGetMemoryInfo")
    OPTIONAL(device_get_power_usage, "nvmlDeviceGetPowerUsage")
    OPTIONAL(device_get_enforced_power_limit, "nvmlDeviceGetEnforcedPowerLimit")
    OPTIONAL(device_get_utilization_rates, "nvmlDeviceGetUtilizationRates")
    OPTIONAL(device_get_temperature, "nvmlDeviceGetTemperature")
    return NULL;
}
