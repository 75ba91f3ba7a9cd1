import ArgumentParser
import Console
import Engine
import Foundation
import Models
import Server
import Telemetry

/// `herd` / `herd console`: the full-screen console over an engine running in this process, optionally
/// serving the HTTP API from the same engine (`--port`).
struct ConsoleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Open the live console: GPUs, batch, throughput, expert routing, a prompt and a tuner (the default command).",
        discussion: """
            Keys: Enter focuses the prompt, t the tuner, Tab moves on, ? shows every key, q or Ctrl-C quits. \
            :set NAME VALUE changes a serving knob; s in the tuner (or :save) writes the knobs to \
            $XDG_CONFIG_HOME/herd/knobs.json (~/.config/herd/knobs.json), read at the next start. \
            Themes: \(Theme.builtInNames.joined(separator: ", ")) or a path to a btop-style .theme file. NO_COLOR is respected.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var engineOptions: EngineOptions
    @Option(name: .long, help: "Also serve the OpenAI-compatible HTTP API from the same engine on this port.")
    var port: Int?
    @Option(name: .long, help: "Address the HTTP API binds to (with --port).")
    var host = "127.0.0.1"
    @Option(name: .long, help: "Require this key as 'Authorization: Bearer KEY' on /v1 routes (with --port).")
    var apiKey: String?
    @Flag(name: .long, help: "Show the knobs but do not allow changing them.")
    var readOnly = false
    @Option(name: .long, help: ArgumentHelp("Colour theme: a built-in name or a theme file.", valueName: "name|path"))
    var theme = "dark"
    @Option(name: .long, help: "Colours: auto, truecolor, 256, 16 or none (NO_COLOR also turns them off).")
    var color = "auto"
    @Option(name: .long, help: "Graph glyphs: unicode (blocks, braille) or ascii.")
    var glyphs = "unicode"
    @Option(name: .long, help: ArgumentHelp("Where saved knobs are read and written (default: $XDG_CONFIG_HOME/herd/knobs.json).", valueName: "path"))
    var knobsFile: String?

    func validate() throws {
        guard color == "auto" || ColorMode(rawValue: color) != nil else {
            throw ValidationError("--color must be auto, truecolor, 256, 16 or none, got \(color)")
        }
        guard glyphs == "unicode" || glyphs == "ascii" else { throw ValidationError("--glyphs must be unicode or ascii, got \(glyphs)") }
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be between 1 and 65535, got \(port)") }
    }

    func run() throws {
        let chosenTheme: Theme
        do { chosenTheme = try Theme.load(theme) } catch { throw CLIError("--theme: \(error)") }
        let knobsPath = knobsFile ?? KnobStore.defaultPath()
        let loaded = try modelOptions.load()
        let (engine, note) = try makeEngine(loaded, knobsPath: knobsPath)
        defer { engine.shutdown() }

        var serverNote: String?
        if let port {
            // The HTTP API shares the engine: requests from both front ends batch together.
            let model = ServedModel(name: loaded.name, tokenizer: loaded.tokenizer, chatFormat: loaded.chatFormat, engine: engine)
            let metrics = PrometheusExporter(modelName: loaded.name, stats: { engine.stats() }, recorder: engine.statsRecorder)
            let server = OpenAIServer(model: model, options: ServerOptions(host: host, port: port,
                                                                           apiKey: apiKey ?? ProcessInfo.processInfo.environment["HERD_API_KEY"]),
                                      metrics: metrics)
            Task.detached {
                do { try await server.run() } catch {
                    FileHandle.standardError.write(Data("herd: HTTP API on \(host):\(port) stopped: \(error)\n".utf8))
                }
            }
            serverNote = "API http://\(host):\(port)/v1"
        }

        let sampler = TelemetrySampler()
        sampler.start()
        defer { sampler.stop() }

        var config = ConsoleConfiguration(modelName: loaded.name, backend: loaded.model.backend.description,
                                          chatFormat: loaded.chatFormat, chatFormatError: loaded.chatFormatError,
                                          theme: chosenTheme, knobsPath: knobsPath)
        config.readOnly = readOnly
        config.color = ColorMode(rawValue: color)
        config.noColor = ProcessInfo.processInfo.environment["NO_COLOR"].map { !$0.isEmpty } ?? false
        config.glyphs = Glyphs(unicode: glyphs == "unicode")
        config.serverNote = serverNote
        config.startupNote = note
        let logPath = NSTemporaryDirectory() + "herd-console-\(getpid()).log"
        config.logPath = logPath
        let app = ConsoleApp(engine: engine, sampler: sampler, config: config)
        do { try app.run() } catch { throw CLIError("\(error)") }
        // Messages written while the console owned the screen (a GPU library's complaints, the HTTP
        // server's log) are shown now that the terminal is back: the last lines, and where the rest are.
        if let log = try? String(contentsOfFile: logPath, encoding: .utf8), !log.isEmpty {
            let lines = log.split(separator: "\n")
            let shown = lines.suffix(20).joined(separator: "\n")
            let more = lines.count > 20 ? "herd: \(lines.count - 20) earlier lines in \(logPath)\n" : ""
            FileHandle.standardError.write(Data("herd: messages while the console ran:\n\(shown)\n\(more)".utf8))
            if more.isEmpty { try? FileManager.default.removeItem(atPath: logPath) }
        } else {
            try? FileManager.default.removeItem(atPath: logPath)
        }
    }

    /// The engine, with the knobs saved by the tuner applied where the command line does not set them. Saved
    /// knobs the model or cache cannot take are skipped, and the note says why.
    func makeEngine(_ loaded: LoadedModel, knobsPath: String) throws -> (Engine, String?) {
        let saved: SavedKnobs?
        do { saved = try KnobStore.load(path: knobsPath) } catch {
            return (try engineOptions.makeEngine(loaded), "\(error)")
        }
        guard let saved else { return (try engineOptions.makeEngine(loaded), nil) }
        let given = Set(CommandLine.arguments.map { String($0.split(separator: "=").first ?? "") })
        var options = engineOptions
        var used: [String] = []
        if let v = saved.maxNumBatchedTokens, !given.contains("--max-num-batched-tokens") {
            options.maxNumBatchedTokens = v
            used.append("max_num_batched_tokens=\(v)")
        }
        if let v = saved.maxNumSeqs, !given.contains("--max-num-seqs") {
            options.maxNumSeqs = v
            used.append("max_num_seqs=\(v)")
        }
        if let v = saved.maxModelLen, !given.contains("--max-model-len") {
            options.maxModelLen = v
            used.append("max_model_len=\(v)")
        }
        if used.isEmpty { return (try engineOptions.makeEngine(loaded), nil) }
        do {
            return (try options.makeEngine(loaded), "saved knobs from \(knobsPath): \(used.joined(separator: " "))")
        } catch {
            return (try engineOptions.makeEngine(loaded), "saved knobs in \(knobsPath) not applied: \(error)")
        }
    }
}
