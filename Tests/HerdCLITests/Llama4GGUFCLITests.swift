import Foundation
import Testing

/// `herd info` and `herd generate` on the Llama 4 GGUF files made by llama.cpp's converter from the `llamacpp`
/// checkpoint (ModelsTests/Fixtures/llama4, scripts/make_llama4_gguf_fixtures.py).
struct Llama4GGUFCLITests {
    struct Reference: Decodable {
        struct Case: Decodable { let text: String }
        let cases: [Case]
        let greedy: [Int]
    }

    static func greedyIDs(model: String, prompt: String) throws -> [Int]? {
        let r = try CLITests.herd(["generate", "--model", model, "--prompt", prompt, "--temperature", "0",
                                   "--max-tokens", "8", "--ignore-eos", "--json", "--threads", "1"])
        #expect(r.status == 0, "\(model): \(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        return json?["token_ids"] as? [Int]
    }

    /// The BF16 file holds the checkpoint's weights bit for bit: the same greedy token ids as the directory,
    /// both equal to transformers' `generate`. The Q8_0 file's weights are rounded, which changes the 8th token
    /// here (the checkpoint's lead there is 0.019): it must give transformers' greedy ids on its own weights.
    @Test func greedyGenerateMatchesTheDirectory() throws {
        let dir = Llama4CLITests.fixture("llamacpp")
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: dir + ".json")))
        let prompt = reference.cases[0].text
        let fromDirectory = try Self.greedyIDs(model: dir, prompt: prompt)
        let fromGGUF = try Self.greedyIDs(model: Llama4CLITests.fixture("llamacpp-bf16.gguf"), prompt: prompt)
        #expect(fromDirectory == reference.greedy)
        #expect(fromGGUF == fromDirectory, "bf16 GGUF \(fromGGUF ?? []) vs directory \(fromDirectory ?? [])")

        struct Quantized: Decodable { let greedy: [Int] }
        let q8 = try JSONDecoder().decode(Quantized.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "-q8_0.json")))
        let fromQ8 = try Self.greedyIDs(model: Llama4CLITests.fixture("llamacpp-q8_0.gguf"), prompt: prompt)
        #expect(fromQ8 == q8.greedy, "q8_0 GGUF \(fromQ8 ?? []) vs transformers on its weights \(q8.greedy)")
        #expect(fromQ8.map { Array($0.prefix(7)) } == fromDirectory.map { Array($0.prefix(7)) })
    }

    @Test func infoDescribesTheGGUF() throws {
        let r = try CLITests.herd(["info", "--model", Llama4CLITests.fixture("llamacpp-q8_0.gguf"), "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        for line in ["format:        GGUF v3, 48 tensors", "architecture:  llama4", "layers:        4 (MoE 2: 1,3; NoPE 1: 3)",
                     "experts:       4, 1 per token", "QK norm on", "chunked attn:  8192 tokens on RoPE layers; temperature tuning on (floor 8192.0, scale 0.1)",
                     "tensor types:  Q8_0 x", "pre-tokenizer gpt4o, BOS 400 (added), EOS 408", "chat format:   llama4"] {
            #expect(r.stdout.contains(line), "missing \(line.debugDescription) in\n\(r.stdout)")
        }
    }
}
