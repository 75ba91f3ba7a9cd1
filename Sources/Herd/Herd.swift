import ArgumentParser

@main
struct Herd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herd",
        abstract: "A live console and in-process inference engine for Llama-family serving nodes.",
        discussion: """
            With no subcommand, herd opens the console over the engine running the model (the embedded default, \
            SmolLM2-135M-Instruct, unless --model says otherwise). Install the default model with \
            scripts/fetch-default-model.sh (the README's run command, scripts/herd, does this).
            """,
        version: HerdVersion.string,
        subcommands: [ConsoleCommand.self, Chat.self, Generate.self, Info.self, Serve.self, Bench.self, Speed.self, GPUCheck.self, GPUBench.self],
        defaultSubcommand: ConsoleCommand.self
    )
}

enum HerdVersion {
    static let string = "0.1.0"
}
