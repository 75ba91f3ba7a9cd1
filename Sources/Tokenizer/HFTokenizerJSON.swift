import Foundation

/// A problem in a Hugging Face tokenizer file; names the file and the field.
public struct HFTokenizerError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public init(_ path: String, _ reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { "\(path): \(reason)" }
}

/// Builds a `BPETokenizer` from a Hugging Face `tokenizer.json` (the `tokenizers` library's format) of the
/// byte-level BPE kind Llama 3 / Llama 4 / GPT-2 use:
/// - `model`: `BPE` with `vocab` (token -> id) and `merges` ("a b" strings or ["a", "b"] pairs);
/// - `pre_tokenizer`: `Sequence[Split(Regex, Isolated), ByteLevel(use_regex: false)]`, where the regex must
///   be one Herd implements by hand (Llama 3's or GPT-4o/Llama 4's), or a lone `ByteLevel(use_regex: true)`
///   (GPT-2);
/// - `added_tokens`: special ones become CONTROL tokens (parsed only with `parseSpecial`), others
///   USER_DEFINED;
/// - `post_processor`: a `TemplateProcessing` (alone or in a `Sequence`) whose single-sequence template is
///   `[BOS, $A]` sets `addBOS` and the BOS id.
/// Anything else is refused with an error naming the field, rather than tokenizing differently from HF.
public enum HFTokenizerJSON {
    /// The split regexes of HF's converted tokenizers, mapped to the hand-written pre-tokenizers.
    static let knownSplits: [String: PreTokenizer] = [
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: .llama3,
        #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#: .gpt4o,
    ]

    /// Reads `path`. `eosToken` (from tokenizer_config.json) names the EOS token; `bosToken` is used when
    /// the post-processor does not name one.
    public static func load(path: String, bosToken: String? = nil, eosToken: String? = nil) throws(HFTokenizerError) -> BPETokenizer {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw HFTokenizerError(path, "cannot read: \(error.localizedDescription)")
        }
        return try parse(data, path: path, bosToken: bosToken, eosToken: eosToken)
    }

    public static func parse(_ data: Data, path: String, bosToken: String? = nil, eosToken: String? = nil) throws(HFTokenizerError) -> BPETokenizer {
        func bad(_ reason: String) -> HFTokenizerError { HFTokenizerError(path, reason) }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw bad("not a JSON object")
        }
        if let normalizer = root["normalizer"], !(normalizer is NSNull) {
            throw bad("normalizer \(typeName(normalizer)) is not supported (byte-level BPE tokenizers have none)")
        }
        let preTokenizer = try Self.preTokenizer(root["pre_tokenizer"], bad)

        guard let model = root["model"] as? [String: Any] else { throw bad("missing \"model\" object") }
        guard (model["type"] as? String) == "BPE" else { throw bad("model.type \(typeName(model["type"])) is not supported (BPE)") }
        if (model["byte_fallback"] as? Bool) == true { throw bad("model.byte_fallback = true is not supported (byte-level BPE)") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = model[key], !(v is NSNull), (v as? String) != "" { throw bad("model.\(key) is not supported") }
        }
        let ignoreMerges = (model["ignore_merges"] as? Bool) ?? false
        guard ignoreMerges == preTokenizer.ignoresMerges else {
            throw bad("model.ignore_merges = \(ignoreMerges) with the \(preTokenizer) pre-tokenizer is not supported (Herd's \(preTokenizer) tokenizer uses ignore_merges = \(preTokenizer.ignoresMerges))")
        }
        guard let vocab = model["vocab"] as? [String: Any] else { throw bad("missing model.vocab object") }

        // id -> (spelling, GGUF-style token type)
        var entries: [Int: (String, Int32)] = [:]
        entries.reserveCapacity(vocab.count)
        for (token, value) in vocab {
            guard let id = (value as? NSNumber)?.intValue, id >= 0, id < 1 << 24 else {
                throw bad("model.vocab[\(token.debugDescription)] is not a token id")
            }
            if let other = entries[id] { throw bad("model.vocab gives id \(id) to both \(other.0.debugDescription) and \(token.debugDescription)") }
            entries[id] = (token, BPETokenizer.TokenType.normal)
        }
        var contentIDs: [String: Int] = vocab.compactMapValues { ($0 as? NSNumber)?.intValue }
        for (n, item) in ((root["added_tokens"] as? [Any]) ?? []).enumerated() {
            guard let token = item as? [String: Any], let id = (token["id"] as? NSNumber)?.intValue, id >= 0, id < 1 << 24,
                  let content = token["content"] as? String else {
                throw bad("added_tokens[\(n)] lacks an integer id or a content string")
            }
            if let existing = entries[id], existing.0 != content {
                throw bad("added_tokens[\(n)] \(content.debugDescription) reuses id \(id) of \(existing.0.debugDescription)")
            }
            let special = (token["special"] as? Bool) ?? false
            entries[id] = (content, special ? BPETokenizer.TokenType.control : BPETokenizer.TokenType.userDefined)
            contentIDs[content] = id
        }
        guard let maxID = entries.keys.max() else { throw bad("model.vocab is empty") }
        var tokens: [String] = [], types: [Int32] = []
        tokens.reserveCapacity(maxID + 1)
        for id in 0...maxID {
            guard let (token, type) = entries[id] else { throw bad("token id \(id) is in neither model.vocab nor added_tokens (ids must be contiguous)") }
            tokens.append(token)
            types.append(type)
        }

        guard let rawMerges = model["merges"] as? [Any] else { throw bad("missing model.merges array") }
        var merges: [String] = []
        merges.reserveCapacity(rawMerges.count)
        for (n, merge) in rawMerges.enumerated() {
            if let text = merge as? String {
                merges.append(text)
            } else if let pair = merge as? [String], pair.count == 2 {
                // Byte-level spellings never contain a space (it is spelled "Ġ"), so "a b" is unambiguous.
                guard !pair[0].contains(" "), !pair[1].contains(" ") else {
                    throw bad("model.merges[\(n)] \(pair) has a token containing a space")
                }
                merges.append(pair[0] + " " + pair[1])
            } else {
                throw bad("model.merges[\(n)] is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }

        let (templateBOS, addBOS) = try Self.bosTemplate(root["post_processor"], bad)
        func id(of token: String?, _ field: String) throws(HFTokenizerError) -> Int? {
            guard let token else { return nil }
            guard let id = contentIDs[token] else { throw bad("\(field) \(token.debugDescription) is not in the vocabulary") }
            return id
        }
        var bosID = templateBOS
        if bosID == nil { bosID = try id(of: bosToken, "bos_token") }
        let eosID = try id(of: eosToken, "eos_token")
        do {
            return try BPETokenizer(tokens: tokens, tokenTypes: types, merges: merges, preTokenizer: preTokenizer,
                                    bosID: bosID, eosID: eosID, addBOS: addBOS)
        } catch {
            throw bad("\(error)")
        }
    }

    /// Maps the `pre_tokenizer` object to a hand-written pre-tokenizer.
    static func preTokenizer(_ value: Any?, _ bad: (String) -> HFTokenizerError) throws(HFTokenizerError) -> PreTokenizer {
        guard let object = value as? [String: Any], let type = object["type"] as? String else {
            throw bad("missing pre_tokenizer (byte-level BPE needs Split + ByteLevel)")
        }
        if type == "ByteLevel" {
            guard (object["use_regex"] as? Bool) ?? true else { throw bad("pre_tokenizer ByteLevel without a split regex is not supported") }
            guard !((object["add_prefix_space"] as? Bool) ?? false) else { throw bad("pre_tokenizer ByteLevel add_prefix_space = true is not supported") }
            return .gpt2
        }
        guard type == "Sequence", let steps = object["pretokenizers"] as? [[String: Any]], steps.count == 2,
              steps[0]["type"] as? String == "Split", steps[1]["type"] as? String == "ByteLevel" else {
            throw bad("pre_tokenizer \(describe(object)) is not supported (Sequence[Split(Regex), ByteLevel] or ByteLevel)")
        }
        let split = steps[0], byteLevel = steps[1]
        guard let regex = (split["pattern"] as? [String: Any])?["Regex"] as? String else {
            throw bad("pre_tokenizer Split pattern must be a Regex")
        }
        guard let kind = knownSplits[regex] else {
            throw bad("pre_tokenizer Split regex \(regex.debugDescription) is not supported (supported: the Llama 3 and GPT-4o/Llama 4 regexes)")
        }
        guard (split["behavior"] as? String) == "Isolated", !((split["invert"] as? Bool) ?? false) else {
            throw bad("pre_tokenizer Split must have behavior Isolated and invert false")
        }
        guard !((byteLevel["use_regex"] as? Bool) ?? true), !((byteLevel["add_prefix_space"] as? Bool) ?? false) else {
            throw bad("pre_tokenizer ByteLevel after a Split must have use_regex false and add_prefix_space false")
        }
        return kind
    }

    /// (BOS id, whether it is added) from the post-processor's single-sequence template.
    static func bosTemplate(_ value: Any?, _ bad: (String) -> HFTokenizerError) throws(HFTokenizerError) -> (Int?, Bool) {
        guard let object = value as? [String: Any] else { return (nil, false) }
        var candidates = [object]
        if object["type"] as? String == "Sequence" { candidates = (object["processors"] as? [[String: Any]]) ?? [] }
        guard let template = candidates.first(where: { $0["type"] as? String == "TemplateProcessing" }) else {
            // ByteLevel alone (offsets only) adds nothing.
            if let other = candidates.first(where: { $0["type"] as? String != "ByteLevel" }) {
                throw bad("post_processor \(typeName(other["type"])) is not supported (TemplateProcessing, ByteLevel)")
            }
            return (nil, false)
        }
        guard let single = template["single"] as? [[String: Any]] else { throw bad("post_processor.single is missing") }
        let pieces = single.map { $0.keys.first ?? "" }
        if pieces == ["Sequence"] { return (nil, false) }
        guard pieces == ["SpecialToken", "Sequence"],
              let name = (single[0]["SpecialToken"] as? [String: Any])?["id"] as? String else {
            throw bad("post_processor.single template \(pieces) is not supported (only [BOS, $A])")
        }
        guard let ids = ((template["special_tokens"] as? [String: Any])?[name] as? [String: Any])?["ids"] as? [Any],
              ids.count == 1, let id = (ids[0] as? NSNumber)?.intValue else {
            throw bad("post_processor.special_tokens has no single id for \(name.debugDescription)")
        }
        return (id, true)
    }

    static func typeName(_ value: Any?) -> String {
        if let object = value as? [String: Any], let type = object["type"] as? String { return type.debugDescription }
        if let s = value as? String { return s.debugDescription }
        return value.map { "\(type(of: $0))" } ?? "(missing)"
    }

    static func describe(_ object: [String: Any]) -> String {
        let type = (object["type"] as? String) ?? "?"
        guard let steps = object["pretokenizers"] as? [[String: Any]] else { return type }
        return "\(type)[\(steps.map { ($0["type"] as? String) ?? "?" }.joined(separator: ", "))]"
    }
}

/// The fields Herd reads from `tokenizer_config.json`: special token names and the chat template.
public struct HFTokenizerConfig: Sendable {
    public var bosToken: String?
    public var eosToken: String?
    public var chatTemplate: String?

    public init(bosToken: String? = nil, eosToken: String? = nil, chatTemplate: String? = nil) {
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.chatTemplate = chatTemplate
    }

    /// Reads `tokenizer_config.json` (a token may be a string or `{"content": ...}`; the chat template a
    /// string or a list of named templates, of which "default" is taken).
    public static func load(path: String) throws(HFTokenizerError) -> HFTokenizerConfig {
        guard let data = FileManager.default.contents(atPath: path),
              let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw HFTokenizerError(path, "cannot read a JSON object")
        }
        func token(_ key: String) -> String? {
            if let s = root[key] as? String { return s }
            return (root[key] as? [String: Any])?["content"] as? String
        }
        var template = root["chat_template"] as? String
        if let list = root["chat_template"] as? [[String: Any]] {
            template = (list.first { $0["name"] as? String == "default" } ?? list.first)?["template"] as? String
        }
        return HFTokenizerConfig(bosToken: token("bos_token"), eosToken: token("eos_token"), chatTemplate: template)
    }
}
