import ComputeCPU
import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import Models
import NIOCore
import Scheduler
import Server
import TestSupport
import Testing

/// The HTTP API over a real engine on the tiny model, through Hummingbird's test client.
struct OpenAIServerTests {
    static func make(apiKey: String? = nil, maxBody: Int = 1 << 20) throws -> (OpenAIServer, Engine) {
        let m = try ModelLoader.load(path: TinyLlama.writer().write(name: "server"), backend: CPUBackend(threads: 1))
        let core = try EngineCore(model: m.model, tokenizer: m.tokenizer, chatFormat: m.chatFormat,
                                  config: SchedulerConfig(maxNumBatchedTokens: 64, maxNumSeqs: 8, maxModelLen: 128),
                                  kvCacheBytes: EngineCore.bytesPerBlock(model: m.model, blockSize: 16) * 64)
        let engine = Engine(core: core, modelName: "tiny")
        let served = ServedModel(name: "tiny", tokenizer: m.tokenizer, chatFormat: m.chatFormat, engine: engine)
        let metrics = PrometheusExporter(modelName: "tiny", stats: { engine.stats() }, recorder: engine.statsRecorder)
        return (OpenAIServer(model: served, options: ServerOptions(apiKey: apiKey, maxBodyBytes: maxBody), metrics: metrics), engine)
    }

    static func json(_ buffer: ByteBuffer) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any] ?? [:]
    }

    static func body(_ object: [String: Any]) -> ByteBuffer {
        ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: object))
    }

    @Test func completionsChatAndUsage() async throws {
        let (server, engine) = try Self.make()
        defer { engine.shutdown() }
        let app = Application(router: server.router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/models", method: .get) { r in
                #expect(r.status == .ok)
                #expect(((Self.json(r.body)["data"] as? [[String: Any]])?.first?["id"] as? String) == "tiny")
            }
            try await client.execute(uri: "/v1/completions", method: .post, headers: [.contentType: "application/json"],
                                     body: Self.body(["model": "tiny", "prompt": "hello", "max_tokens": 5, "temperature": 0, "ignore_eos": true])) { r in
                #expect(r.status == .ok)
                let j = Self.json(r.body)
                #expect(j["object"] as? String == "text_completion")
                let usage = j["usage"] as? [String: Any]
                #expect(usage?["completion_tokens"] as? Int == 5)
                #expect(usage?["prompt_tokens"] as? Int == 5)
                #expect((j["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String == "length")
            }
            try await client.execute(uri: "/v1/chat/completions", method: .post,
                                     body: Self.body(["messages": [["role": "user", "content": "hi"]], "max_tokens": 4, "ignore_eos": true,
                                                      "logprobs": true, "top_logprobs": 3])) { r in
                #expect(r.status == .ok)
                let choice = (Self.json(r.body)["choices"] as? [[String: Any]])?.first
                #expect((choice?["message"] as? [String: Any])?["role"] as? String == "assistant")
                let content = (choice?["logprobs"] as? [String: Any])?["content"] as? [[String: Any]]
                #expect(content?.count == 4)
                #expect((content?.first?["top_logprobs"] as? [Any])?.count == 3)
            }
        }
    }

    @Test func streamingEndsWithUsageAndDone() async throws {
        let (server, engine) = try Self.make()
        defer { engine.shutdown() }
        let app = Application(router: server.router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/completions", method: .post,
                                     body: Self.body(["prompt": [5, 6, 7], "max_tokens": 6, "stream": true, "ignore_eos": true,
                                                      "stream_options": ["include_usage": true]])) { r in
                #expect(r.status == .ok)
                #expect(r.headers[.contentType] == "text/event-stream")
                let events = String(buffer: r.body).components(separatedBy: "\n\n").filter { !$0.isEmpty }
                #expect(events.last == "data: [DONE]")
                let objects = events.dropLast().map { Self.json(ByteBuffer(string: String($0.dropFirst(6)))) }
                let tokenChunks = objects.filter { !(($0["choices"] as? [Any]) ?? []).isEmpty }
                #expect(tokenChunks.count == 6)
                #expect(((tokenChunks.last?["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String) == "length")
                #expect(((objects.last?["usage"] as? [String: Any])?["completion_tokens"] as? Int) == 6)
            }
        }
    }

    @Test func errorsHaveVLLMShapeAndStatus() async throws {
        let (server, engine) = try Self.make(maxBody: 2048)
        defer { engine.shutdown() }
        let app = Application(router: server.router())
        func expectError(_ body: ByteBuffer, uri: String = "/v1/completions", status: HTTPResponse.Status, _ fragment: String,
                         sourceLocation: SourceLocation = #_sourceLocation) async throws {
            try await app.test(.router) { client in
                try await client.execute(uri: uri, method: .post, body: body) { r in
                    #expect(r.status == status, sourceLocation: sourceLocation)
                    let error = Self.json(r.body)["error"] as? [String: Any]
                    #expect(error?["code"] as? Int == Int(status.code), sourceLocation: sourceLocation)
                    #expect((error?["message"] as? String)?.contains(fragment) == true, "\(String(describing: error))", sourceLocation: sourceLocation)
                }
            }
        }
        try await expectError(ByteBuffer(string: "{not json"), status: .badRequest, "not valid JSON")
        try await expectError(Self.body(["prompt": "x", "max_tokens": "five"]), status: .badRequest, "'max_tokens' must be an integer")
        try await expectError(Self.body(["prompt": "x", "temperature": true]), status: .badRequest, "'temperature' must be a number")
        try await expectError(Self.body(["prompt": "x", "model": "other"]), status: .notFound, "The model `other` does not exist.")
        try await expectError(Self.body(["prompt": [Int](repeating: 5, count: 130)]), status: .badRequest, "maximum context length is 128")
        try await expectError(Self.body(["prompt": "x", "max_tokens": 500]), status: .badRequest, "max_tokens=500 cannot be greater than max_model_len=128")
        try await expectError(Self.body(["prompt": "x", "stream_options": ["include_usage": true]]), status: .badRequest, "Stream options")
        try await expectError(ByteBuffer(string: String(repeating: " ", count: 5000)), status: .contentTooLarge, "larger than 2048")
        try await expectError(Self.body(["messages": "hi"]), uri: "/v1/chat/completions", status: .badRequest, "'messages'")
    }

    @Test func apiKeyIsRequiredOnV1Routes() async throws {
        let (server, engine) = try Self.make(apiKey: "sesame")
        defer { engine.shutdown() }
        let app = Application(router: server.router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/models", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer wrong"]) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer sesame"]) { #expect($0.status == .ok) }
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func tokenizeDetokenizeAndMetrics() async throws {
        let (server, engine) = try Self.make()
        defer { engine.shutdown() }
        let app = Application(router: server.router())
        try await app.test(.router) { client in
            var tokens: [Int] = []
            try await client.execute(uri: "/tokenize", method: .post, body: Self.body(["prompt": "hey", "add_special_tokens": false])) { r in
                let j = Self.json(r.body)
                tokens = j["tokens"] as? [Int] ?? []
                #expect(j["count"] as? Int == 3 && j["max_model_len"] as? Int == 128)
            }
            try await client.execute(uri: "/detokenize", method: .post, body: Self.body(["tokens": tokens])) { r in
                #expect(Self.json(r.body)["prompt"] as? String == "hey")
            }
            try await client.execute(uri: "/v1/completions", method: .post, body: Self.body(["prompt": "abc", "max_tokens": 3, "ignore_eos": true])) { _ in }
            try await client.execute(uri: "/metrics", method: .get) { r in
                let text = String(buffer: r.body)
                #expect(text.contains("vllm:generation_tokens_total{model_name=\"tiny\",engine=\"0\"} 3"))
                #expect(text.contains("vllm:request_success_total{model_name=\"tiny\",engine=\"0\",finished_reason=\"length\"} 1"))
                #expect(text.contains("vllm:time_to_first_token_seconds_count{model_name=\"tiny\",engine=\"0\"} 1"))
                #expect(text.contains("herd_max_num_batched_tokens{model_name=\"tiny\",engine=\"0\"} 64"))
            }
        }
    }
}
