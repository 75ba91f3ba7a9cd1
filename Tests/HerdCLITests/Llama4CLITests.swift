import Foundation
import Testing

/// `herd info` and `herd generate` on Llama 4 checkpoint directories (the tiny fixtures of ModelsTests).
struct Llama4CLITests {
    static func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelsTests/Fixtures/llama4/\(name)").path
    }

    struct Reference: Decodable {
        struct Case: Decodable { let text: String }
        let cases: [Case]
        let greedy: [Int]
    }

    @Test func infoDescribesTheCheckpoint() throws {
        let r = try CLITests.herd(["info", "--model", Self.fixture("scout"), "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        for line in ["architecture:  llama4", "safetensors checkpoint, 3 shard(s)", "layers:        4 (MoE 4: 0,1,2,3; NoPE 1: 3)",
                     "chunked attn:  8 tokens", "chat format:   llama4", "pre-tokenizer gpt4o, BOS 400 (added)"] {
            #expect(r.stdout.contains(line), "missing \(line.debugDescription) in\n\(r.stdout)")
        }
        // The vision tower is skipped with one line saying so.
        #expect(r.stderr.contains("text-only: ignoring 26 tensors of multi_modal_projector, vision_model"), "\(r.stderr)")
    }

    /// Greedy generation from the CLI reproduces transformers' `generate` (8 tokens, do_sample=False).
    @Test(arguments: ["tiny", "scout", "maverick"])
    func greedyGenerateMatchesTransformers(name: String) throws {
        let dir = Self.fixture(name)
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: dir + ".json")))
        let r = try CLITests.herd(["generate", "--model", dir, "--prompt", reference.cases[0].text, "--temperature", "0",
                                   "--max-tokens", "8", "--ignore-eos", "--json", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect((json?["token_ids"] as? [Int]) == reference.greedy, "\(r.stdout)")
    }

    @Test func brokenDirectoryIsOneLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("herd-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data("{\"architectures\": [\"Llama4ForCausalLM\"], \"hidden_size\": 64}".utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        let r = try CLITests.herd(["info", "--model", dir])
        #expect(r.status == 1 && r.stderr == "Error: \(dir)/config.json: missing field vocab_size\n", "\(r.stderr)")
    }
}
