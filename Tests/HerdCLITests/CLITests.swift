import Foundation
import TestSupport
import Testing

/// Runs the built `herd` executable as a user would.
struct CLITests {
    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }


    static func herd(_ arguments: [String], stdin: String? = nil) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try HerdBinary.path())
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    @Test func helpListsEverySubcommand() throws {
        let r = try Self.herd(["--help"])
        #expect(r.status == 0)
        for name in ["chat", "generate", "info", "speed"] { #expect(r.stdout.contains(name), "\(name) missing from help") }
    }

    @Test func generateJSONOnTheTinyModel() throws {
        let model = try TinyLlama.writer().write(name: "cli")
        let r = try Self.herd(["generate", "--model", model, "--prompt", "hi", "--max-tokens", "5", "--temperature", "0",
                               "--ignore-eos", "--json", "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect((json?["prompt_token_ids"] as? [Int]) == [107, 108])  // "h", "i" after the 3 specials
        #expect((json?["token_ids"] as? [Int])?.count == 5)
        #expect(json?["finish_reason"] as? String == "length")
        #expect(json?["text"] is String)
        #expect((json?["timings"] as? [String: Any])?["total_seconds"] is Double)
    }

    @Test func chatReadsStdinUntilEOF() throws {
        let model = try TinyLlama.writer().write(name: "cli-chat")
        let r = try Self.herd(["chat", "--model", model, "--max-tokens", "3", "--temperature", "0", "--threads", "1"],
                              stdin: "hello\n/reset\nagain\n")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("(conversation cleared)"))
    }

    /// Hostile files thrown at `info` and `generate`: a one-line error naming the file, exit status 1,
    /// never a crash (a signal) or a hang.
    @Test func hostileFilesGiveOneLineErrors() throws {
        let good = TinyLlama.writer().bytes()
        var variants: [(String, [UInt8])] = [
            ("empty", []),
            ("magic", Array("GGML".utf8) + good.dropFirst(4)),
            ("truncated-header", Array(good.prefix(2000))),
            ("truncated-data", Array(good.prefix(good.count - 4000))),
            ("huge-count", Array(good.prefix(8)) + [255, 255, 255, 255, 255, 255, 255, 127] + Array(good.dropFirst(16))),
        ]
        var w = TinyLlama.writer()
        w.tensors.removeAll { $0.name == "output_norm.weight" }
        variants.append(("missing-tensor", w.bytes()))
        for (name, bytes) in variants {
            let path = try TemporaryFile.write(bytes, name: "\(name).gguf")
            for command in [["info", "--model", path], ["generate", "--model", path, "--prompt", "x"]] {
                let r = try Self.herd(command)
                #expect(r.status == 1, "\(name) \(command[0]): status \(r.status)\n\(r.stderr)")
                #expect(r.stderr.hasPrefix("Error: \(path): "), "\(name) \(command[0]): \(r.stderr)")
                #expect(r.stderr.split(separator: "\n").count <= 2, "\(name): \(r.stderr)")
            }
        }
    }

    @Test func badArgumentsAndTooLongPrompts() throws {
        let model = try TinyLlama.writer().write(name: "cli-args")
        let r = try Self.herd(["generate", "--model", model, "--prompt", String(repeating: "a", count: 200), "--max-tokens", "10"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("maximum context length is 128 tokens"), "\(r.stderr)")
        let t = try Self.herd(["generate", "--model", model, "--prompt", "x", "--temperature=-1"])
        #expect(t.status == 1 && t.stderr.contains("temperature"), "\(t.stderr)")
        let missing = try Self.herd(["info", "--model", "/no/such/file.gguf"])
        #expect(missing.status == 1 && missing.stderr.contains("/no/such/file.gguf: cannot open"), "\(missing.stderr)")
    }
}
