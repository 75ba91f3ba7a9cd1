import Foundation

/// The `herd` executable that `swift build --build-tests` puts beside the test bundle.
public enum HerdBinary {
    public static func path() throws -> String {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("herd").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw TestModels.Missing(path: "herd executable next to \(CommandLine.arguments[0])")
    }
}
