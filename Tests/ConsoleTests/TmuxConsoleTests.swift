import Foundation
import TestSupport
import Testing

/// Runs scripts/console-tmux-test.sh: the real console in a real terminal (tmux) on the default model.
struct TmuxConsoleTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var tmuxInstalled: Bool {
        ["/usr/bin/tmux", "/usr/local/bin/tmux", "/opt/homebrew/bin/tmux"].contains { FileManager.default.isExecutableFile(atPath: $0) }
    }


    @Test(.enabled(if: tmuxInstalled, "tmux is not installed (scripts/install-deps.sh installs it)"), .timeLimit(.minutes(10)))
    func consoleInTmux() throws {
        _ = try TestModels.smolLM2Path()
        let script = Self.repoRoot.appendingPathComponent("scripts/console-tmux-test.sh").path
        let log = NSTemporaryDirectory() + "herd-console-tmux-\(getpid()).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let status = try Self.run([script, try HerdBinary.path()], output: log)
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(output)")
        #expect(output.contains("PASS: console tmux test"), "\(output)")
    }

    /// posix_spawn + waitpid, output to a file: the tmux server the script starts outlives it, and
    /// Foundation's Process (pipes, its own child reaping) can hang on that.
    static func run(_ argv: [String], output: String) throws -> Int32 {
        let fd = open(output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw TestModels.Missing(path: output) }
        defer { close(fd) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fd, 1)
        posix_spawn_file_actions_adddup2(&actions, fd, 2)
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
        guard rc == 0 else { throw TestModels.Missing(path: "\(argv[0]) (posix_spawn: \(rc))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // Exit code when it exited, else 128 + the signal.
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}
