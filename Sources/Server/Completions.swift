import Engine
import Foundation
import HTTPTypes
import Hummingbird
import Scheduler
import Tokenizer

/// One parsed /v1/completions or /v1/chat/completions request.
struct CompletionCall {
    var request: EngineRequest
    var chat: Bool
    var stream: Bool
    var includeUsage: Bool
    /// Completions: `logprobs` (top N). Chat: `logprobs: true` with `top_logprobs` N.
    var logprobs: Int?
}

extension OpenAIServer {
    func parseMessages(_ value: Any) throws(APIError) -> [ChatMessage] {
        guard let list = value as? [Any], !list.isEmpty else {
            throw .badRequest("'messages' must be a non-empty list of {role, content} objects.", param: "messages")
        }
        var messages: [ChatMessage] = []
        for (i, item) in list.enumerated() {
            guard let m = item as? [String: Any], let role = m["role"] as? String else {
                throw .badRequest("messages[\(i)] must be an object with a string 'role'.", param: "messages")
            }
            var content = ""
            if let text = m["content"] as? String {
                content = text
            } else if let parts = m["content"] as? [Any] {
                // The list form: text parts are joined; other kinds (images) are not supported.
                for part in parts {
                    guard let p = part as? [String: Any], p["type"] as? String == "text", let text = p["text"] as? String else {
                        throw .badRequest("messages[\(i)].content: only text parts are supported.", param: "messages")
                    }
                    content += text
                }
            } else if !(m["content"] is NSNull || m["content"] == nil) {
                throw .badRequest("messages[\(i)].content must be a string or a list of text parts.", param: "messages")
            }
            messages.append(ChatMessage(role: role, content: content))
        }
        return messages
    }

    func parseCompletion(_ f: RequestFields, chat: Bool) throws -> CompletionCall {
        let prompt: EngineRequest.Prompt
        if chat {
            guard let format = model.chatFormat else { throw APIError.badRequest("This model has no chat template; use /v1/completions.") }
            guard let messages = f.object["messages"] else { throw APIError.badRequest("'messages' is required.", param: "messages") }
            prompt = .text(format.render(try parseMessages(messages)))
        } else {
            guard let p = f.object["prompt"], !(p is NSNull) else { throw APIError.badRequest("'prompt' is required.", param: "prompt") }
            switch p {
            case let s as String: prompt = .text(s)
            case let list as [Any] where list.count == 1 && list[0] is String: prompt = .text(list[0] as! String)
            case let list as [Any] where !list.isEmpty && list.allSatisfy({ $0 is NSNumber }):
                guard let ids = list as? [Int] else { throw APIError.badRequest("'prompt' token ids must be integers.", param: "prompt") }
                prompt = .tokens(ids.map { Int32(clamping: $0) })
            case let list as [Any] where list.count == 1 && list[0] is [Any]:
                guard let ids = list[0] as? [Int] else { throw APIError.badRequest("'prompt' token ids must be integers.", param: "prompt") }
                prompt = .tokens(ids.map { Int32(clamping: $0) })
            default:
                throw APIError.badRequest("'prompt' must be a string or a list of token ids (one prompt per request).", param: "prompt")
            }
        }
        if let n = try f.int("n"), n != 1 { throw APIError.badRequest("Only n=1 is supported.", param: "n") }
        if try f.bool("echo") == true { throw APIError.badRequest("echo is not supported.", param: "echo") }
        let stream = try f.bool("stream") ?? false
        let streamOptions = try f.dictionary("stream_options")
        if streamOptions != nil && !stream {
            throw APIError.badRequest("Stream options can only be defined when `stream=True`.", param: "stream_options")
        }
        let maxTokens = chat ? (try f.int("max_completion_tokens") ?? f.int("max_tokens")) : (try f.int("max_tokens") ?? 16)
        var topK = try f.int("top_k") ?? 0
        if topK == -1 { topK = 0 }  // vLLM: -1 disables top-k
        let sampling = SamplingParameters(
            temperature: Float(try f.double("temperature") ?? 1), topK: topK, topP: Float(try f.double("top_p") ?? 1),
            minP: Float(try f.double("min_p") ?? 0), seed: try f.int("seed").map { UInt64(bitPattern: Int64($0)) })
        var logprobs: Int?
        if chat {
            if try f.bool("logprobs") == true { logprobs = try f.int("top_logprobs") ?? 0 }
        } else {
            logprobs = try f.int("logprobs")
        }
        let request = EngineRequest(prompt: prompt, maxTokens: maxTokens, sampling: sampling, stop: try f.stopStrings(),
                                    ignoreEOS: try f.bool("ignore_eos") ?? false,
                                    addBOS: chat ? false : (try f.bool("add_special_tokens") ?? true), logprobs: logprobs)
        let includeUsage = (streamOptions?["include_usage"] as? Bool) ?? false
        return CompletionCall(request: request, chat: chat, stream: stream, includeUsage: includeUsage, logprobs: logprobs)
    }

    func completion(_ f: RequestFields, chat: Bool) async throws -> Response {
        let call = try parseCompletion(f, chat: chat)
        let (id, updates) = try await model.engine.submit(call.request)
        let responseID = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let base: [String: Any] = ["id": responseID, "created": Int(Date().timeIntervalSince1970), "model": model.name]
        if call.stream {
            return streamingResponse(call: call, engineID: id, updates: updates, base: base)
        }
        var text = "", tokens = 0, prompt = 0, reason: FinishReason?
        var logprobs: [TokenLogprob] = []
        for await update in updates {
            text += update.newText
            tokens += update.newTokens.count
            prompt += update.promptTokens
            logprobs += update.logprobs
            if let r = update.finishReason { reason = r }
        }
        var choice: [String: Any] = ["index": 0, "finish_reason": reason.map(\.rawValue) ?? NSNull(),
                                     "logprobs": call.logprobs == nil ? NSNull() : logprobsJSON(logprobs, chat: chat)]
        if chat {
            choice["message"] = ["role": "assistant", "content": text, "tool_calls": [] as [Any]] as [String: Any]
        } else {
            choice["text"] = text
            choice["stop_reason"] = NSNull()
        }
        var body = base
        body["object"] = chat ? "chat.completion" : "text_completion"
        body["choices"] = [choice]
        body["usage"] = ["prompt_tokens": prompt, "total_tokens": prompt + tokens, "completion_tokens": tokens, "prompt_tokens_details": NSNull()]
        return jsonResponse(body)
    }

    /// Server-sent events: one chunk per engine update, a final chunk with the finish reason, the usage
    /// chunk when asked for, then `data: [DONE]`. A client that goes away aborts its request.
    private func streamingResponse(call: CompletionCall, engineID: Int, updates: AsyncStream<RequestOutput>,
                                   base: [String: Any]) -> Response {
        let engine = model.engine
        let chat = call.chat
        let baseData = jsonData(base)  // Sendable copy of the shared fields
        let body = ResponseBody { writer in
            let base = (try? JSONSerialization.jsonObject(with: baseData)) as? [String: Any] ?? [:]
            func event(_ object: [String: Any]) -> ByteBuffer {
                var b = ByteBuffer(string: "data: ")
                b.writeBytes(jsonData(object))
                b.writeString("\n\n")
                return b
            }
            func chunk(_ choice: [String: Any]) -> [String: Any] {
                var c = base
                c["object"] = chat ? "chat.completion.chunk" : "text_completion"
                c["choices"] = [choice]
                return c
            }
            var finished = false
            do {
                if chat {
                    try await writer.write(event(chunk(["index": 0, "delta": ["role": "assistant", "content": ""], "logprobs": NSNull(), "finish_reason": NSNull()])))
                }
                var prompt = 0, tokens = 0
                for await update in updates {
                    prompt += update.promptTokens
                    tokens += update.newTokens.count
                    if update.newTokens.isEmpty && update.finishReason == nil { continue }
                    let lp: Any = call.logprobs == nil ? NSNull() : logprobsJSON(update.logprobs, chat: chat)
                    let reason: Any = update.finishReason.map(\.rawValue) ?? NSNull()
                    if chat {
                        try await writer.write(event(chunk(["index": 0, "delta": ["content": update.newText], "logprobs": lp, "finish_reason": reason])))
                    } else {
                        try await writer.write(event(chunk(["index": 0, "text": update.newText, "logprobs": lp, "finish_reason": reason, "stop_reason": NSNull()])))
                    }
                    if update.finishReason != nil { finished = true }
                }
                if call.includeUsage {
                    var u = base
                    u["object"] = chat ? "chat.completion.chunk" : "text_completion"
                    u["choices"] = [] as [Any]
                    u["usage"] = ["prompt_tokens": prompt, "total_tokens": prompt + tokens, "completion_tokens": tokens]
                    try await writer.write(event(u))
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            } catch {
                // The client went away mid-stream: stop generating and free the KV blocks.
                if !finished { engine.abort(engineID) }
                throw error
            }
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    /// OpenAI's logprobs objects: completions' parallel lists, or chat's per-token content list.
    func logprobsJSON(_ entries: [TokenLogprob], chat: Bool) -> [String: Any] {
        let tok = model.tokenizer
        func text(_ id: Int32) -> String { String(decoding: tok.tokenBytes(Int(id)), as: UTF8.self) }
        if chat {
            return ["content": entries.map { e -> [String: Any] in
                ["token": text(e.token), "logprob": e.logprob, "bytes": tok.tokenBytes(Int(e.token)).map(Int.init),
                 "top_logprobs": e.top.map { ["token": text($0.token), "logprob": $0.logprob, "bytes": tok.tokenBytes(Int($0.token)).map(Int.init)] as [String: Any] }]
            }]
        }
        var offset = 0
        var offsets: [Int] = []
        for e in entries { offsets.append(offset); offset += text(e.token).count }
        return ["tokens": entries.map { text($0.token) }, "token_logprobs": entries.map(\.logprob),
                "top_logprobs": entries.map { e in Dictionary(e.top.map { (text($0.token), $0.logprob) }, uniquingKeysWith: { a, _ in a }) },
                "text_offset": offsets]
    }
}
