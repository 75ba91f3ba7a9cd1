import Foundation
import Models
import Scheduler
import Tokenizer

/// The small interface every front end (console, HTTP server, bench, generate) uses, so their tests can
/// run against a fake.
public protocol EngineClient: Sendable {
    /// Queues a request; the stream yields its updates and ends after the one with a finish reason.
    /// Ending the stream early (cancelling the consuming task) aborts the request.
    func submit(_ request: EngineRequest) async throws -> (id: Int, updates: AsyncStream<RequestOutput>)
    /// Ends a request and frees its KV blocks.
    func abort(_ id: Int)
    /// Counters, gauges and recent request metrics.
    func stats() -> EngineStats
    /// Changes serving knobs from the next step on; refuses invalid values with the reason.
    func setKnobs(maxNumBatchedTokens: Int?, maxNumSeqs: Int?, maxModelLen: Int?) async throws
}

/// Runs an `EngineCore` on a dedicated thread: the step loop runs while there is work and sleeps on a
/// condition variable when there is none (no spinning). Commands from other threads queue in an inbox
/// that the loop drains between steps, so a knob change or an abort takes effect at the next step.
///
/// `@unchecked Sendable`: `core` and `streams` are touched only by the engine thread; `inbox` and
/// `stopping` only under `condition`.
public final class Engine: EngineClient, @unchecked Sendable {
    public let tokenizer: BPETokenizer
    public let modelName: String
    private let core: EngineCore
    /// Where listeners (the Prometheus exporter) subscribe to per-request and per-step events.
    public let statsRecorder: EngineStatsRecorder
    private let condition = NSCondition()
    private var inbox: [Command] = []
    private var stopping = false
    private var streams: [Int: AsyncStream<RequestOutput>.Continuation] = [:]
    private var thread: Thread?

    enum Command {
        case add(EngineRequest, AsyncStream<RequestOutput>.Continuation, CheckedContinuation<Int, any Error>)
        case abort(Int)
        case knobs(Int?, Int?, Int?, CheckedContinuation<Void, any Error>)
    }

    public init(core: EngineCore, modelName: String) {
        self.core = core
        self.tokenizer = core.tokenizer
        self.modelName = modelName
        statsRecorder = core.stats
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "herd-engine"
        thread.stackSize = 8 << 20
        self.thread = thread
        thread.start()
    }

    /// Stops the loop after the current step; queued and running requests end with `abort`.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    public func submit(_ request: EngineRequest) async throws -> (id: Int, updates: AsyncStream<RequestOutput>) {
        let (stream, continuation) = AsyncStream<RequestOutput>.makeStream(bufferingPolicy: .unbounded)
        let id = try await withCheckedThrowingContinuation { (reply: CheckedContinuation<Int, any Error>) in
            send(.add(request, continuation, reply))
        }
        continuation.onTermination = { [weak self] termination in
            if case .cancelled = termination { self?.abort(id) }
        }
        return (id, stream)
    }

    public func abort(_ id: Int) { send(.abort(id)) }

    public func stats() -> EngineStats { statsRecorder.snapshot() }

    public func setKnobs(maxNumBatchedTokens: Int? = nil, maxNumSeqs: Int? = nil, maxModelLen: Int? = nil) async throws {
        try await withCheckedThrowingContinuation { (reply: CheckedContinuation<Void, any Error>) in
            send(.knobs(maxNumBatchedTokens, maxNumSeqs, maxModelLen, reply))
        }
    }

    private func send(_ command: Command) {
        condition.lock()
        inbox.append(command)
        condition.signal()
        condition.unlock()
    }

    // MARK: the engine thread

    private func loop() {
        while true {
            condition.lock()
            while inbox.isEmpty && !core.hasWork && !stopping { condition.wait() }
            let commands = inbox
            inbox.removeAll()
            let stop = stopping
            condition.unlock()

            for command in commands { handle(command) }
            if stop {
                for id in Array(streams.keys) { handle(.abort(id)) }
                return
            }
            if core.hasWork { deliver(core.step()) }
        }
    }

    private func handle(_ command: Command) {
        switch command {
        case .add(let request, let stream, let reply):
            do {
                let id = try core.add(request)
                streams[id] = stream
                reply.resume(returning: id)
            } catch {
                stream.finish()
                reply.resume(throwing: error)
            }
        case .abort(let id):
            if let output = core.abort(id) { deliver([output]) }
        case .knobs(let tokens, let seqs, let len, let reply):
            do {
                try core.setKnobs(maxNumBatchedTokens: tokens, maxNumSeqs: seqs, maxModelLen: len)
                reply.resume()
            } catch {
                reply.resume(throwing: error)
            }
        }
    }

    private func deliver(_ outputs: [RequestOutput]) {
        for output in outputs {
            guard let stream = streams[output.requestID] else { continue }
            stream.yield(output)
            if output.finishReason != nil {
                streams[output.requestID] = nil
                stream.finish()
            }
        }
    }
}
