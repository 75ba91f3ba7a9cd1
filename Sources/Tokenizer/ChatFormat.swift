public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// The chat prompt formats the engine can render, each reproducing its model's Jinja chat template
/// (no Jinja interpreter: the templates are recognised and rendered natively).
public enum ChatFormat: Sendable, Equatable {
    /// `<|im_start|>{role}\n{content}<|im_end|>\n` per message (SmolLM2 and other ChatML models). When
    /// `defaultSystem` is set, a system message with it is put first if the conversation has none.
    case chatML(defaultSystem: String?)
    /// Llama 4: `<|begin_of_text|>`, then `<|header_start|>{role}<|header_end|>\n\n{content}<|eot|>` per
    /// message. A leading system message is trimmed; tool results go under the `ipython` header as JSON.
    case llama4
    /// Llama 3: `<|begin_of_text|>` before the first message, then
    /// `<|start_header_id|>{role}<|end_header_id|>\n\n{content trimmed}<|eot_id|>` per message.
    case llama3

    public var name: String {
        switch self {
        case .chatML: "chatml"
        case .llama4: "llama4"
        case .llama3: "llama3"
        }
    }

    /// Special tokens that end an assistant turn.
    public var stopStrings: [String] {
        switch self {
        case .chatML: ["<|im_end|>"]
        case .llama4: ["<|eot|>", "<|eom|>", "<|end_of_text|>"]
        case .llama3: ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"]
        }
    }

    /// Recognises a model's `tokenizer.chat_template` by the turn markers it writes.
    public static func detect(template: String?) throws(TokenizerError) -> ChatFormat {
        guard let template, !template.allSatisfy(\.isWhitespace) else { throw .noChatTemplate }
        if template.contains("<|im_start|>") {
            return .chatML(defaultSystem: ChatTemplateText.defaultSystemPrompt(in: template))
        }
        if template.contains("<|header_start|>") { return .llama4 }
        if template.contains("<|start_header_id|>") { return .llama3 }
        throw .unsupportedChatTemplate(prefix: String(template.prefix(60)))
    }

    /// The prompt text for `messages`; with `addGenerationPrompt`, ends with the header that opens the
    /// assistant's turn. Llama formats include the BOS token text: do not add another BOS id.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var out = ""
        switch self {
        case .chatML(let defaultSystem):
            if let defaultSystem, let first = messages.first, first.role != "system" {
                out += "<|im_start|>system\n\(defaultSystem)<|im_end|>\n"
            }
            for message in messages {
                out += "<|im_start|>\(message.role)\n\(message.content)<|im_end|>\n"
            }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }

        case .llama4:
            out += "<|begin_of_text|>"
            var rest = messages[...]
            if let first = rest.first, first.role == "system" {
                out += "<|header_start|>system<|header_end|>\n\n\(ChatTemplateText.trim(first.content))<|eot|>"
                rest = rest.dropFirst()
            }
            for message in rest {
                if message.role == "tool" || message.role == "ipython" {
                    // The template writes tool output through `tojson`, so a string arrives quoted.
                    out += "<|header_start|>ipython<|header_end|>\n\n\(ChatTemplateText.json(message.content))<|eot|>"
                } else {
                    out += "<|header_start|>\(message.role)<|header_end|>\n\n\(message.content)<|eot|>"
                }
            }
            if addGenerationPrompt { out += "<|header_start|>assistant<|header_end|>\n\n" }

        case .llama3:
            for (index, message) in messages.enumerated() {
                if index == 0 { out += "<|begin_of_text|>" }
                out += "<|start_header_id|>\(message.role)<|end_header_id|>\n\n"
                out += "\(ChatTemplateText.trim(message.content))<|eot_id|>"
            }
            if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        }
        return out
    }
}

/// The bits of Jinja/Python behaviour the templates rely on.
enum ChatTemplateText {
    /// Jinja's `trim` filter is Python's `str.strip()`: Unicode White_Space plus U+001C...U+001F.
    static func trim(_ text: String) -> String {
        func isPythonSpace(_ scalar: Unicode.Scalar) -> Bool {
            scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
        }
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isPythonSpace($0) }),
              let last = scalars.lastIndex(where: { !isPythonSpace($0) }) else { return "" }
        return String(scalars[first...last])
    }

    /// Python's `json.dumps(text, ensure_ascii=False)` of a string, which HF's `tojson` filter calls.
    static func json(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// The system prompt a ChatML template writes as a literal when the conversation has none, e.g.
    /// SmolLM2's `'<|im_start|>system\nYou are a helpful AI assistant named SmolLM, ...<|im_end|>\n'`.
    /// A system block whose content is an expression (`' + messages[0]['content'] + '`) is not one.
    static func defaultSystemPrompt(in template: String) -> String? {
        let opener = "<|im_start|>system"
        var rest = template[...]
        while let start = rest.firstRange(of: opener) {
            rest = rest[start.upperBound...]
            // The newline after the role is either a real newline or a `\n` escape in the Jinja literal.
            let body: Substring
            if rest.hasPrefix("\n") {
                body = rest.dropFirst()
            } else if rest.hasPrefix("\\n") {
                body = rest.dropFirst(2)
            } else {
                continue
            }
            guard let end = body.firstRange(of: "<|im_end|>") else { return nil }
            let literal = body[..<end.lowerBound]
            let isExpression = ["{", "}", "' +", "+ '", "\" +", "+ \"", "'+", "+'", "\"+", "+\""]
                .contains { literal.contains($0) }
            if !literal.isEmpty && !isExpression { return unescape(literal) }
        }
        return nil
    }

    /// Undoes the escapes of a Jinja string literal.
    private static func unescape(_ literal: Substring) -> String {
        var out = ""
        var escaping = false
        for character in literal {
            if escaping {
                switch character {
                case "n": out += "\n"
                case "t": out += "\t"
                case "r": out += "\r"
                default: out.append(character)
                }
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                out.append(character)
            }
        }
        return out
    }
}
