import AsyncHTTPClient
import Engine
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// Where benchmark requests go.
public enum BenchTarget: Sendable {
    /// Herd's engine in this process.
    case engine(any EngineClient)
    /// Any OpenAI-compatible server: its base URL (e.g. http://127.0.0.1:8000), model name, API key.
    case http(baseURL: String, model: String, apiKey: String?)
}

/// Sends the prompts as `vllm bench serve` does: arrivals per --request-rate (Poisson, or all at once),
/// at most --max-concurrency in flight, each streamed, timing every token chunk.
public struct BenchRunner: Sendable {
    public var target: BenchTarget
    public var requestRate: Double = .infinity
    public var burstiness: Double = 1
    public var maxConcurrency: Int?
    public var ignoreEOS = true
    public var seed: UInt64 = 0
    /// Called with (finished, total) as requests complete (the progress bar).
    public var progress: (@Sendable (Int, Int) -> Void)?

    public init(target: BenchTarget) { self.target = target }

    /// Arrival times in seconds: gamma-distributed gaps rescaled so the last lands at count / rate (vLLM 0.33).
    func arrivals(count: Int) -> [Double] {
        guard requestRate.isFinite, requestRate > 0, count > 0 else { return [Double](repeating: 0, count: count) }
        var rng = SplitMix(seed: seed ^ 0xA5A5)
        var t = 0.0
        var times: [Double] = []
        for _ in 0..<count {
            t += gamma(shape: burstiness, scale: 1 / (requestRate * burstiness), &rng)
            times.append(t)
        }
        let scale = (Double(count) / requestRate) / (times.last! > 0 ? times.last! : 1)
        return times.map { $0 * scale }
    }

    public func run(_ prompts: [BenchPrompt]) async -> BenchResult {
        let times = arrivals(count: prompts.count)
        let http: HTTPClient? = {
            guard case .http = target else { return nil }
            // One connection per request in flight, as `vllm bench serve` opens (the client's default of 8
            // per host would cap the concurrency asked for, and queue the rest until they time out), within
            // the usual limit of 1024 open files.
            var configuration = HTTPClient.Configuration()
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, min(maxConcurrency ?? prompts.count, prompts.count, 1000))
            return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        }()
        let done = DoneCounter()
        let gate = Gate(limit: maxConcurrency ?? Int.max)
        let clock = ContinuousClock()
        let t0 = clock.now
        let records = await withTaskGroup(of: (Int, RequestRecord).self) { group in
            for (i, prompt) in prompts.enumerated() {
                let wait = t0 + .seconds(times[i]) - clock.now
                if wait > .zero { try? await Task.sleep(for: wait) }
                await gate.enter()
                group.addTask {
                    var record = await send(prompt, http: http, start: (clock.now - t0).seconds)
                    record.promptLength = record.promptLength == 0 ? prompt.promptLength : record.promptLength
                    await gate.leave()
                    let n = done.increment()
                    progress?(n, prompts.count)
                    return (i, record)
                }
            }
            var out = [RequestRecord](repeating: RequestRecord(), count: prompts.count)
            for await (i, r) in group { out[i] = r }
            return out
        }
        let duration = (clock.now - t0).seconds
        try? await http?.shutdown()
        return BenchResult(records: records, duration: duration)
    }

    private func send(_ prompt: BenchPrompt, http: HTTPClient?, start: Double) async -> RequestRecord {
        switch target {
        case .engine(let engine): await sendInProcess(prompt, engine: engine, start: start)
        case .http(let base, let model, let key): await sendHTTP(prompt, client: http!, base: base, model: model, key: key, start: start)
        }
    }

    private func sendInProcess(_ prompt: BenchPrompt, engine: any EngineClient, start: Double) async -> RequestRecord {
        var r = RequestRecord()
        r.start = start
        let clock = ContinuousClock()
        let sent = clock.now
        var last = sent
        do {
            let (_, updates) = try await engine.submit(EngineRequest(prompt: .text(prompt.text), maxTokens: prompt.outputLength,
                                                                     ignoreEOS: ignoreEOS))
            for await u in updates {
                if u.promptTokens > 0 { r.promptLength = u.promptTokens }
                guard !u.newTokens.isEmpty else { continue }
                let now = clock.now
                if r.outputTokens == 0 { r.ttft = (now - sent).seconds } else { r.itl.append((now - last).seconds) }
                last = now
                r.outputTokens += u.newTokens.count
            }
            r.latency = (last - sent).seconds
            r.success = r.outputTokens > 0
            if !r.success { r.error = "Never received a valid chunk to calculate TTFT.This response will be marked as failed!" }
        } catch {
            r.error = "\(error)"
        }
        return r
    }

    private func sendHTTP(_ prompt: BenchPrompt, client: HTTPClient, base: String, model: String, key: String?,
                          start: Double) async -> RequestRecord {
        var r = RequestRecord()
        r.start = start
        var body: [String: Any] = ["model": model, "prompt": prompt.text, "repetition_penalty": 1.0, "max_tokens": prompt.outputLength,
                                   "logprobs": NSNull(), "stream": true, "stream_options": ["include_usage": true]]
        if ignoreEOS { body["ignore_eos"] = true }
        var request = HTTPClientRequest(url: base.trimmingSuffix("/") + "/v1/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        request.body = .bytes(ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: body)) ?? Data()))
        let clock = ContinuousClock()
        let sent = clock.now
        var last = sent
        var usageTokens = 0
        do {
            let response = try await client.execute(request, timeout: .hours(6))
            guard response.status == .ok else {
                r.error = "HTTP \(response.status.code) \(response.status.reasonPhrase)"
                return r
            }
            var pending = ""
            streaming: for try await buffer in response.body {
                pending += String(buffer: buffer)
                while let range = pending.range(of: "\n\n") {
                    let message = String(pending[..<range.lowerBound])
                    pending = String(pending[range.upperBound...])
                    for line in message.split(separator: "\n") where !line.hasPrefix(":") {
                        let payload = line.hasPrefix("data: ") ? line.dropFirst(6) : line[...]
                        if payload == "[DONE]" { break streaming }
                        guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else { continue }
                        if let choices = object["choices"] as? [Any], !choices.isEmpty {
                            let now = clock.now
                            if r.ttft == 0 && r.itl.isEmpty && r.outputTokens == 0 { r.ttft = (now - sent).seconds } else { r.itl.append((now - last).seconds) }
                            last = now
                            r.outputTokens += 1  // one chunk; replaced by usage.completion_tokens below
                        } else if let usage = object["usage"] as? [String: Any] {
                            usageTokens = usage["completion_tokens"] as? Int ?? 0
                            r.promptLength = usage["prompt_tokens"] as? Int ?? r.promptLength
                        }
                    }
                }
            }
            r.success = r.outputTokens > 0
            if usageTokens > 0 { r.outputTokens = usageTokens }
            r.latency = (last - sent).seconds
            if !r.success { r.error = "Never received a valid chunk to calculate TTFT.This response will be marked as failed!" }
        } catch {
            r.error = "\(error)"
        }
        return r
    }
}

final class DoneCounter: Sendable {
    private let count = Mutex(0)
    func increment() -> Int { count.withLock { $0 += 1; return $0 } }
}

/// A counting semaphore for async tasks (the --max-concurrency gate).
actor Gate {
    let limit: Int
    var inside = 0
    var waiters: [CheckedContinuation<Void, Never>] = []
    init(limit: Int) { self.limit = limit }

    func enter() async {
        if inside < limit { inside += 1; return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func leave() {
        if waiters.isEmpty { inside -= 1 } else { waiters.removeFirst().resume() }
    }
}

/// Marsaglia-Tsang gamma sampling (shape >= 1; boosted for shape < 1).
func gamma(shape: Double, scale: Double, _ rng: inout SplitMix) -> Double {
    func uniform() -> Double { Double(rng.next() >> 11) * 0x1p-53 + 0x1p-54 }
    func normal() -> Double { (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform()) }
    if shape < 1 { return gamma(shape: shape + 1, scale: scale, &rng) * pow(uniform(), 1 / shape) }
    let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
    while true {
        var x: Double, v: Double
        repeat { x = normal(); v = 1 + c * x } while v <= 0
        v = v * v * v
        let u = uniform()
        if log(u) < 0.5 * x * x + d - d * v + d * log(v) { return d * v * scale }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

extension String {
    func trimmingSuffix(_ s: String) -> String { hasSuffix(s) ? String(dropLast(s.count)) : self }
}
