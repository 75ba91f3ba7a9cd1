// Compile-time check of CTelemetry.h's rocm-smi declarations against the real header (librocm-smi-dev).
// Each assertion compares a real function's type with Herd's pointer type, so a wrong parameter or
// return type fails the build. Nothing here is emitted or linked: librocm_smi64 stays a run-time dlopen.
// Without the header (a machine without librocm-smi-dev) the check is skipped.
#include "CTelemetry.h"

#if __has_include(<rocm_smi/rocm_smi.h>)
#include <rocm_smi/rocm_smi.h>

#define CHECK(function, herdType) \
    _Static_assert(__builtin_types_compatible_p(__typeof__(&function), herdType), \
                   #function " in rocm_smi.h does not match " #herdType " in CTelemetry.h");

CHECK(rsmi_init, herd_rsmi_init_fn)
CHECK(rsmi_shut_down, herd_rsmi_shut_down_fn)
CHECK(rsmi_num_monitor_devices, herd_rsmi_num_monitor_devices_fn)
CHECK(rsmi_status_string, herd_rsmi_status_string_fn)
CHECK(rsmi_dev_name_get, herd_rsmi_dev_name_get_fn)
CHECK(rsmi_dev_memory_total_get, herd_rsmi_dev_memory_total_get_fn)
CHECK(rsmi_dev_memory_usage_get, herd_rsmi_dev_memory_usage_get_fn)
CHECK(rsmi_dev_power_ave_get, herd_rsmi_dev_power_ave_get_fn)
CHECK(rsmi_dev_power_cap_get, herd_rsmi_dev_power_cap_get_fn)
CHECK(rsmi_dev_busy_percent_get, herd_rsmi_dev_busy_percent_get_fn)
CHECK(rsmi_dev_temp_metric_get, herd_rsmi_dev_temp_metric_get_fn)

// The enum values Herd passes.
_Static_assert(RSMI_STATUS_SUCCESS == 0, "RSMI_STATUS_SUCCESS");
_Static_assert(RSMI_MEM_TYPE_VRAM == HERD_RSMI_MEM_TYPE_VRAM, "RSMI_MEM_TYPE_VRAM");
_Static_assert(RSMI_TEMP_TYPE_EDGE == HERD_RSMI_TEMP_TYPE_EDGE, "RSMI_TEMP_TYPE_EDGE");
_Static_assert(RSMI_TEMP_TYPE_JUNCTION == HERD_RSMI_TEMP_TYPE_JUNCTION, "RSMI_TEMP_TYPE_JUNCTION");
_Static_assert(RSMI_TEMP_CURRENT == HERD_RSMI_TEMP_CURRENT, "RSMI_TEMP_CURRENT");
#endif

// Keeps the translation unit non-empty when the header is absent.
int herd_rocm_smi_check_unused;
