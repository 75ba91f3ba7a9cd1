// Types and function-pointer tables for the GPU monitoring libraries Herd loads at run time with dlopen
// (never linked at build time, so one binary builds and runs on machines without them). Only the
// Telemetry module imports this. rocm_smi_check.c checks every rocm-smi pointer type against the real
// header when librocm-smi-dev is installed, so a signature mistake here breaks the build.
#ifndef HERD_CTELEMETRY_H
#define HERD_CTELEMETRY_H
#include <stddef.h>
#include <stdint.h>

// MARK: rocm-smi (librocm_smi64), declarations as in rocm_smi/rocm_smi.h (ROCm 5.x/6.x)

typedef uint32_t herd_rsmi_status_t;   // rsmi_status_t; 0 = RSMI_STATUS_SUCCESS
enum {
    HERD_RSMI_MEM_TYPE_VRAM = 0,       // RSMI_MEM_TYPE_VRAM
    HERD_RSMI_TEMP_TYPE_EDGE = 0,      // RSMI_TEMP_TYPE_EDGE
    HERD_RSMI_TEMP_TYPE_JUNCTION = 1,  // RSMI_TEMP_TYPE_JUNCTION
    HERD_RSMI_TEMP_CURRENT = 0,        // RSMI_TEMP_CURRENT
};

typedef herd_rsmi_status_t (*herd_rsmi_init_fn)(uint64_t init_flags);
typedef herd_rsmi_status_t (*herd_rsmi_shut_down_fn)(void);
typedef herd_rsmi_status_t (*herd_rsmi_num_monitor_devices_fn)(uint32_t *num_devices);
typedef herd_rsmi_status_t (*herd_rsmi_dev_name_get_fn)(uint32_t dv_ind, char *name, size_t len);
typedef herd_rsmi_status_t (*herd_rsmi_dev_memory_total_get_fn)(uint32_t dv_ind, uint32_t mem_type, uint64_t *total);
typedef herd_rsmi_status_t (*herd_rsmi_dev_memory_usage_get_fn)(uint32_t dv_ind, uint32_t mem_type, uint64_t *used);
typedef herd_rsmi_status_t (*herd_rsmi_dev_power_ave_get_fn)(uint32_t dv_ind, uint32_t sensor_ind, uint64_t *power);
typedef herd_rsmi_status_t (*herd_rsmi_dev_power_cap_get_fn)(uint32_t dv_ind, uint32_t sensor_ind, uint64_t *cap);
typedef herd_rsmi_status_t (*herd_rsmi_dev_busy_percent_get_fn)(uint32_t dv_ind, uint32_t *busy_percent);
typedef herd_rsmi_status_t (*herd_rsmi_dev_temp_metric_get_fn)(uint32_t dv_ind, uint32_t sensor_type, uint32_t metric,
                                                               int64_t *temperature);
typedef herd_rsmi_status_t (*herd_rsmi_status_string_fn)(herd_rsmi_status_t status, const char **status_string);

/// Filled by herd_rsmi_load; a NULL entry is a symbol the loaded library lacks.
typedef struct {
    herd_rsmi_init_fn initialize;
    herd_rsmi_shut_down_fn shut_down;
    herd_rsmi_num_monitor_devices_fn num_monitor_devices;
    herd_rsmi_status_string_fn status_string;
    // optional: a missing one shows `--`
    herd_rsmi_dev_name_get_fn dev_name_get;
    herd_rsmi_dev_memory_total_get_fn dev_memory_total_get;
    herd_rsmi_dev_memory_usage_get_fn dev_memory_usage_get;
    herd_rsmi_dev_power_ave_get_fn dev_power_ave_get;
    herd_rsmi_dev_power_cap_get_fn dev_power_cap_get;
    herd_rsmi_dev_busy_percent_get_fn dev_busy_percent_get;
    herd_rsmi_dev_temp_metric_get_fn dev_temp_metric_get;
} herd_rsmi_table;

/// Looks up every symbol in `handle` (from dlopen). Returns NULL when all required ones were found,
/// else the name of the first missing required symbol.
const char *herd_rsmi_load(void *handle, herd_rsmi_table *table);

// MARK: NVML (libnvidia-ml.so.1), declarations as in nvml.h

typedef uint32_t herd_nvml_return_t;   // nvmlReturn_t; 0 = NVML_SUCCESS
typedef void *herd_nvml_device_t;      // nvmlDevice_t (an opaque pointer)
typedef struct { unsigned long long total, free, used; } herd_nvml_memory_t;   // nvmlMemory_t
typedef struct { unsigned int gpu, memory; } herd_nvml_utilization_t;         // nvmlUtilization_t
enum { HERD_NVML_TEMPERATURE_GPU = 0 };                                        // NVML_TEMPERATURE_GPU

typedef herd_nvml_return_t (*herd_nvml_init_fn)(void);                                        // nvmlInit_v2
typedef herd_nvml_return_t (*herd_nvml_shutdown_fn)(void);                                    // nvmlShutdown
typedef const char *(*herd_nvml_error_string_fn)(herd_nvml_return_t result);                  // nvmlErrorString
typedef herd_nvml_return_t (*herd_nvml_device_get_count_fn)(unsigned int *count);             // nvmlDeviceGetCount_v2
typedef herd_nvml_return_t (*herd_nvml_device_get_handle_by_index_fn)(unsigned int index, herd_nvml_device_t *device);
typedef herd_nvml_return_t (*herd_nvml_device_get_name_fn)(herd_nvml_device_t device, char *name, unsigned int length);
typedef herd_nvml_return_t (*herd_nvml_device_get_memory_info_fn)(herd_nvml_device_t device, herd_nvml_memory_t *memory);
typedef herd_nvml_return_t (*herd_nvml_device_get_power_usage_fn)(herd_nvml_device_t device, unsigned int *milliwatts);
typedef herd_nvml_return_t (*herd_nvml_device_get_enforced_power_limit_fn)(herd_nvml_device_t device, unsigned int *milliwatts);
typedef herd_nvml_return_t (*herd_nvml_device_get_utilization_rates_fn)(herd_nvml_device_t device, herd_nvml_utilization_t *utilization);
typedef herd_nvml_return_t (*herd_nvml_device_get_temperature_fn)(herd_nvml_device_t device, uint32_t sensor, unsigned int *temp);

typedef struct {
    herd_nvml_init_fn initialize;
    herd_nvml_shutdown_fn shutdown;
    herd_nvml_error_string_fn error_string;
    herd_nvml_device_get_count_fn device_get_count;
    herd_nvml_device_get_handle_by_index_fn device_get_handle_by_index;
    // optional
    herd_nvml_device_get_name_fn device_get_name;
    herd_nvml_device_get_memory_info_fn device_get_memory_info;
    herd_nvml_device_get_power_usage_fn device_get_power_usage;
    herd_nvml_device_get_enforced_power_limit_fn device_get_enforced_power_limit;
    herd_nvml_device_get_utilization_rates_fn device_get_utilization_rates;
    herd_nvml_device_get_temperature_fn device_get_temperature;
} herd_nvml_table;

const char *herd_nvml_load(void *handle, herd_nvml_table *table);

#endif
