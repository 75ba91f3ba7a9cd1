import ArgumentParser
import Engine
import Foundation
import Models
import Server

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the model over an OpenAI-compatible HTTP API (headless), with Prometheus /metrics.",
        discussion: "Endpoints: /v1/models, /v1/completions, /v1/chat/completions (streaming and not), /tokenize, /detokenize, /health, /version, /metrics. Binds to loopback unless --host says otherwise.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var engineOptions: EngineOptions
    @Option(name: .long, help: "Address to bind (0.0.0.0 for every interface).")
    var host = "127.0.0.1"
    @Option(name: .long, help: "Port to listen on.")
    var port = 8000
    @Option(name: .long, help: "Require this key as 'Authorization: Bearer KEY' on /v1 routes.")
    var apiKey: String?
    @Option(name: .long, help: "Name the model is served under (default: the model's own name).")
    var servedModelName: String?

    func run() async throws {
        let loaded = try modelOptions.load()
        let engine = try engineOptions.makeEngine(loaded)
        let name = servedModelName ?? servedName(loaded.path)
        let model = ServedModel(name: name, tokenizer: loaded.tokenizer, chatFormat: loaded.chatFormat, engine: engine)
        let metrics = PrometheusExporter(modelName: name, stats: { engine.stats() }, recorder: engine.statsRecorder)
        let server = OpenAIServer(model: model, options: ServerOptions(host: host, port: port, apiKey: apiKey ?? ProcessInfo.processInfo.environment["HERD_API_KEY"]),
                                  metrics: metrics)
        FileHandle.standardError.write(Data("herd serve: \(name) on \(loaded.model.backend.description), http://\(host):\(port)/v1\n".utf8))
        try await server.run()
        engine.shutdown()
    }
}

/// The default served model id: the file name without ".gguf" (or the checkpoint folder's name), which
/// unlike GGUF's free-text general.name has no spaces.
func servedName(_ path: String) -> String {
    let last = path.split(separator: "/").last.map(String.init) ?? path
    return last.hasSuffix(".gguf") ? String(last.dropLast(5)) : last
}
