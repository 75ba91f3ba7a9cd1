// GPU and host telemetry readers (issue 5).
