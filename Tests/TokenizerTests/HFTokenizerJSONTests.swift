import Foundation
import Testing
import Tokenizer

/// tokenizer.json -> BPETokenizer on small hand-written files: both merge spellings, the pre-tokenizer
/// mapping, added tokens, the BOS template, and refusals that name the field.
struct HFTokenizerJSONTests {
    static let gpt4oRegex = #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let llama3Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// A Llama 4-shaped tokenizer.json; `edit` changes the parsed object before it is written back.
    static func json(merges: Any = [["a", "a"], ["aa", "b"]], _ edit: (inout [String: Any]) -> Void = { _ in }) -> Data {
        var root: [String: Any] = [
            "version": "1.0", "normalizer": NSNull(),
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": gpt4oRegex], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
            ]],
            "post_processor": ["type": "TemplateProcessing",
                               "single": [["SpecialToken": ["id": "<|begin_of_text|>", "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]],
                               "special_tokens": ["<|begin_of_text|>": ["id": "<|begin_of_text|>", "ids": [5], "tokens": ["<|begin_of_text|>"]]]],
            "model": ["type": "BPE", "ignore_merges": true, "byte_fallback": false,
                      "vocab": ["a": 0, "b": 1, "Ġ": 2, "aa": 3, "aab": 4], "merges": merges],
            "added_tokens": [["id": 5, "content": "<|begin_of_text|>", "special": true],
                             ["id": 6, "content": "<|eot|>", "special": true],
                             ["id": 7, "content": "hello", "special": false]],
        ]
        edit(&root)
        return try! JSONSerialization.data(withJSONObject: root)
    }

    static func parse(_ data: Data) throws(HFTokenizerError) -> BPETokenizer {
        try HFTokenizerJSON.parse(data, path: "tok.json", eosToken: "<|eot|>")
    }

    @Test func bothMergeSpellingsAndAddedTokens() throws {
        let pairs = try Self.parse(Self.json())
        let strings = try Self.parse(Self.json(merges: ["a a", "aa b"]))
        for tok in [pairs, strings] {
            #expect(tok.vocabSize == 8 && tok.preTokenizer == .gpt4o)
            #expect(tok.encode("aab") == [4])
            #expect(tok.encode("aa b") == [3, 2, 1])
            #expect(tok.addBOS && tok.bosID == 5 && tok.eosID == 6)
            #expect(tok.encode("<|eot|>aab") == [6, 4])
            #expect(tok.encode("<|eot|>", parseSpecial: false) != [6])
            #expect(tok.encode("hello", parseSpecial: false) == [7])  // non-special added tokens always match
        }
    }

    @Test func preTokenizerMapping() throws {
        let llama3 = try Self.parse(Self.json {
            var pre = $0["pre_tokenizer"] as! [String: Any]
            var steps = pre["pretokenizers"] as! [[String: Any]]
            steps[0]["pattern"] = ["Regex": Self.llama3Regex]
            pre["pretokenizers"] = steps
            $0["pre_tokenizer"] = pre
        })
        #expect(llama3.preTokenizer == .llama3)
        let gpt2 = try Self.parse(Self.json {
            $0["pre_tokenizer"] = ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true]
            var model = $0["model"] as! [String: Any]
            model["ignore_merges"] = false
            $0["model"] = model
            $0["post_processor"] = ["type": "ByteLevel"]
        })
        #expect(gpt2.preTokenizer == .gpt2 && !gpt2.addBOS)
    }

    @Test func refusalsNameTheField() {
        let cases: [(String, (inout [String: Any]) -> Void, String)] = [
        ("unknown regex", { (r: inout [String: Any]) in
            var pre = r["pre_tokenizer"] as! [String: Any]
            var steps = pre["pretokenizers"] as! [[String: Any]]
            steps[0]["pattern"] = ["Regex": "\\w+"]
            pre["pretokenizers"] = steps
            r["pre_tokenizer"] = pre
        }, "pre_tokenizer Split regex \"\\\\w+\" is not supported"),
        ("other pre-tokenizer", { $0["pre_tokenizer"] = ["type": "Metaspace"] }, "pre_tokenizer Metaspace is not supported"),
        ("normalizer", { $0["normalizer"] = ["type": "NFC"] }, "normalizer \"NFC\" is not supported"),
        ("not BPE", { $0["model"] = ["type": "Unigram"] }, "model.type \"Unigram\" is not supported"),
        ("ignore_merges off with gpt4o", { r in
            var model = r["model"] as! [String: Any]; model["ignore_merges"] = false; r["model"] = model
        }, "model.ignore_merges = false"),
        ("id gap", { r in
            var model = r["model"] as! [String: Any]; model["vocab"] = ["a": 0, "b": 2]; r["model"] = model
        }, "token id 1 is in neither model.vocab nor added_tokens"),
        ("bad merge", { r in
            var model = r["model"] as! [String: Any]; model["merges"] = [["a", "a", "b"]]; r["model"] = model
        }, "model.merges[0] is neither"),
        ("EOS appended by the template", { r in
            var post = r["post_processor"] as! [String: Any]
            post["single"] = [["Sequence": ["id": "A", "type_id": 0]], ["SpecialToken": ["id": "<|eot|>", "type_id": 0]]]
            r["post_processor"] = post
        }, "post_processor.single template [\"Sequence\", \"SpecialToken\"] is not supported"),
        ("added token clashes", { r in
            r["added_tokens"] = [["id": 0, "content": "<|x|>", "special": true]]
        }, "added_tokens[0] \"<|x|>\" reuses id 0 of \"a\""),
        ]
        for (name, edit, expected) in cases {
            do {
                _ = try Self.parse(Self.json(edit))
                Issue.record("\(name): accepted")
            } catch {
                #expect(error.description.hasPrefix("tok.json: ") && error.description.contains(expected), "\(name): \(error)")
            }
        }
    }

    @Test func notJSON() {
        #expect(throws: HFTokenizerError.self) { try Self.parse(Data("{\"model\":".utf8)) }
        #expect(throws: HFTokenizerError.self) { try HFTokenizerJSON.load(path: "/no/such/tokenizer.json") }
    }

    @Test func tokenizerConfigForms() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tc-\(UUID().uuidString).json").path
        try Data(#"{"bos_token": {"content": "<|begin_of_text|>"}, "eos_token": "<|eot|>", "chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": "<|header_start|>"}]}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        let c = try HFTokenizerConfig.load(path: path)
        #expect(c.bosToken == "<|begin_of_text|>" && c.eosToken == "<|eot|>" && c.chatTemplate == "<|header_start|>")
        #expect(try ChatFormat.detect(template: c.chatTemplate) == .llama4)
    }
}
