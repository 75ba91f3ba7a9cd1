import Engine
import Foundation
import HTTPTypes
import Hummingbird
import Scheduler
import Tokenizer

/// The model a server serves: its name, tokenizer, chat format and the engine that runs it.
public struct ServedModel: Sendable {
    public let name: String
    public let tokenizer: BPETokenizer
    public let chatFormat: ChatFormat?
    public let engine: any EngineClient

    public init(name: String, tokenizer: BPETokenizer, chatFormat: ChatFormat?, engine: any EngineClient) {
        self.name = name
        self.tokenizer = tokenizer
        self.chatFormat = chatFormat
        self.engine = engine
    }
}

public struct ServerOptions: Sendable {
    public var host: String
    public var port: Int
    /// Required as `Authorization: Bearer <key>` on /v1 routes when set.
    public var apiKey: String?
    /// Larger bodies get 413.
    public var maxBodyBytes: Int

    public init(host: String = "127.0.0.1", port: Int = 8000, apiKey: String? = nil, maxBodyBytes: Int = 8 << 20) {
        self.host = host
        self.port = port
        self.apiKey = apiKey
        self.maxBodyBytes = maxBodyBytes
    }
}

/// An OpenAI-compatible HTTP API over one engine, with vLLM's extras (`/tokenize`, `/detokenize`,
/// `/metrics`, `ignore_eos`, `top_k`, `min_p`) and vLLM's error shapes.
public struct OpenAIServer: Sendable {
    public let model: ServedModel
    public let options: ServerOptions
    public let metrics: PrometheusExporter
    let created = Int(Date().timeIntervalSince1970)

    public init(model: ServedModel, options: ServerOptions, metrics: PrometheusExporter) {
        self.model = model
        self.options = options
        self.metrics = metrics
    }

    /// The router with every endpoint (tests drive it without a socket).
    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: APIKeyMiddleware(apiKey: options.apiKey))
        router.get("/health") { _, _ in Response(status: .ok) }
        router.get("/version") { _, _ in jsonResponse(["version": HerdServerVersion.string]) }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.render())))
        }
        router.get("/v1/models") { _, _ in jsonResponse(modelList()) }
        router.post("/tokenize") { request, context in try await handle(request, context, tokenize) }
        router.post("/detokenize") { request, context in try await handle(request, context, detokenize) }
        router.post("/v1/completions") { request, context in try await handle(request, context) { try await completion($0, chat: false) } }
        router.post("/v1/chat/completions") { request, context in try await handle(request, context) { try await completion($0, chat: true) } }
        return router
    }

    /// Serves until cancelled.
    public func run() async throws {
        let app = Application(router: router(),
                              configuration: .init(address: .hostname(options.host, port: options.port), serverName: "herd"))
        try await app.runService()
    }

    // MARK: plumbing

    /// Reads the body (413 past the limit), parses it, runs `body`, and turns any error into vLLM's shape.
    private func handle(_ request: Request, _ context: BasicRequestContext,
                        _ body: (RequestFields) async throws -> Response) async throws -> Response {
        do {
            let buffer: ByteBuffer
            do { buffer = try await request.body.collect(upTo: options.maxBodyBytes) } catch {
                throw APIError.tooLarge(options.maxBodyBytes)
            }
            let fields = try RequestFields(Data(buffer.readableBytesView))
            if let name = try fields.string("model"), name != model.name {
                throw APIError.notFound("The model `\(name)` does not exist.", param: "model")
            }
            return try await body(fields)
        } catch let error as APIError {
            return error.response
        } catch let error as RequestRejection {
            return APIError.badRequest(error.message, param: error.parameter).response
        } catch let error as EngineError {
            return APIError.badRequest(error.description).response
        } catch {
            return APIError.internal("\(error)").response
        }
    }

    private func modelList() -> [String: Any] {
        ["object": "list",
         "data": [["id": model.name, "object": "model", "created": created, "owned_by": "herd", "root": model.name,
                   "parent": NSNull(), "max_model_len": model.engine.stats().config.maxModelLen, "permission": [] as [Any]] as [String: Any]]]
    }

    private func tokenize(_ fields: RequestFields) async throws -> Response {
        let addSpecial = try fields.bool("add_special_tokens") ?? true
        var ids: [Int]
        if let prompt = try fields.string("prompt") {
            ids = model.tokenizer.encode(prompt)
        } else if let messages = fields.object["messages"] {
            guard let format = model.chatFormat else { throw APIError.badRequest("This model has no chat template.") }
            ids = model.tokenizer.encode(format.render(try parseMessages(messages)))
        } else {
            throw APIError.badRequest("Give 'prompt' (a string) or 'messages'.", param: "prompt")
        }
        if addSpecial, fields.object["messages"] == nil, model.tokenizer.addBOS, let bos = model.tokenizer.bosID, ids.first != bos {
            ids.insert(bos, at: 0)
        }
        return jsonResponse(["count": ids.count, "max_model_len": model.engine.stats().config.maxModelLen, "tokens": ids])
    }

    private func detokenize(_ fields: RequestFields) async throws -> Response {
        guard let tokens = fields.object["tokens"] as? [Any], let ids = tokens as? [Int] else {
            throw APIError.badRequest("'tokens' must be a list of integers.", param: "tokens")
        }
        guard ids.allSatisfy({ $0 >= 0 && $0 < model.tokenizer.vocabSize }) else {
            throw APIError.badRequest("'tokens' has ids outside the vocabulary (0..<\(model.tokenizer.vocabSize)).", param: "tokens")
        }
        return jsonResponse(["prompt": model.tokenizer.decode(ids)])
    }
}

enum HerdServerVersion {
    static let string = "0.1.0"
}

/// Checks `Authorization: Bearer <key>` on /v1 routes when the server has an API key (as vLLM does).
struct APIKeyMiddleware: RouterMiddleware {
    let apiKey: String?

    func handle(_ request: Request, context: BasicRequestContext,
                next: (Request, BasicRequestContext) async throws -> Response) async throws -> Response {
        if let apiKey, request.uri.path.hasPrefix("/v1") {
            guard request.headers[.authorization] == "Bearer \(apiKey)" else { return APIError.unauthorized.response }
        }
        return try await next(request, context)
    }
}
