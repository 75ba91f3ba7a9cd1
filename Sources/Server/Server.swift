// OpenAI-compatible HTTP server and /metrics (issue 6).
