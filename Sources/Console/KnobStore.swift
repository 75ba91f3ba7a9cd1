import Foundation
import Scheduler

/// The serving knobs saved by the tuner, read at the next start: `$XDG_CONFIG_HOME/herd/knobs.json`
/// (or `~/.config/herd/knobs.json`).
public struct SavedKnobs: Codable, Equatable, Sendable {
    public var maxNumBatchedTokens: Int?
    public var maxNumSeqs: Int?
    public var maxModelLen: Int?

    enum CodingKeys: String, CodingKey {
        case maxNumBatchedTokens = "max_num_batched_tokens"
        case maxNumSeqs = "max_num_seqs"
        case maxModelLen = "max_model_len"
    }

    public init(maxNumBatchedTokens: Int? = nil, maxNumSeqs: Int? = nil, maxModelLen: Int? = nil) {
        self.maxNumBatchedTokens = maxNumBatchedTokens
        self.maxNumSeqs = maxNumSeqs
        self.maxModelLen = maxModelLen
    }

    public init(_ config: SchedulerConfig) {
        self.init(maxNumBatchedTokens: config.maxNumBatchedTokens, maxNumSeqs: config.maxNumSeqs, maxModelLen: config.maxModelLen)
    }
}

public enum KnobStore {
    /// `$XDG_CONFIG_HOME/herd`, else `~/.config/herd`.
    public static func configDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") { return xdg + "/herd" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.config/herd"
    }

    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        configDirectory(environment: environment) + "/knobs.json"
    }

    /// The saved knobs, nil when there is no file; a file that cannot be read is an error naming it.
    public static func load(path: String) throws -> SavedKnobs? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(SavedKnobs.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw ConsoleError("\(path): cannot read saved knobs: \(error)")
        }
    }

    /// Writes the knobs (creating the directory), atomically so a crash never leaves half a file.
    public static func save(_ knobs: SavedKnobs, path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(knobs).write(to: url, options: .atomic)
    }
}
