import Engine
import Foundation
import Scheduler

/// Keys and `:` commands. Every action has a plain key; the prompt pane takes typed text while focused
/// (Esc or Tab leaves it).
extension ConsoleApp {
    public func handle(_ key: Key) {
        if key == .resize { return }
        if key == .ctrl("c") { quitRequested = true; return }
        if showHelp { showHelp = false; return }
        if commandLine != nil { editCommandLine(key); return }
        switch focus {
        case .prompt: promptKey(key)
        case .tuner: if !tunerKey(key) { globalKey(key) }
        case .routing, .dashboard: globalKey(key)
        }
    }

    /// Keys that work everywhere except while typing in the prompt.
    func globalKey(_ key: Key) {
        switch key {
        case .char("q"): quitRequested = true
        case .char("?"), .function(1): showHelp = true
        case .char(":"): commandLine = ""
        case .tab: cycleFocus(1)
        case .backTab: cycleFocus(-1)
        case .enter, .char("p"), .char("i"): focus = .prompt
        case .char("t"): focus = .tuner
        case .char("h"): focus = .routing
        case .char("m"): cycleRoutingMode()
        case .char("d"): cycleDecay()
        case .char("c"): cycleTheme()
        case .char("g"):
            glyphs = Glyphs(unicode: !glyphs.unicode)
            say("glyphs: \(glyphs.unicode ? "unicode" : "ascii")")
        case .escape: focus = .dashboard
        default: break
        }
    }

    func cycleFocus(_ offset: Int) {
        let all = Focus.allCases
        focus = all[(all.firstIndex(of: focus)! + offset + all.count) % all.count]
    }

    func cycleRoutingMode() {
        let all = RoutingHeat.Mode.allCases
        heat.mode = all[(all.firstIndex(of: heat.mode)! + 1) % all.count]
        say("routing heat map: \(heat.mode.rawValue) tokens")
    }

    func cycleDecay() {
        let all = RoutingHeat.timeConstants
        heat.tau = all[((all.firstIndex(of: heat.tau) ?? 0) + 1) % all.count]
        say("routing heat map: decay time constant \(Int(heat.tau)) s")
    }

    func cycleTheme() {
        let all = Theme.builtIn
        let i = all.firstIndex { $0.name == config.theme.name }.map { $0 + 1 } ?? 0
        setTheme(all[i % all.count])
    }

    func setTheme(_ theme: Theme) {
        config.theme = theme
        palette = Palette(theme: theme, mode: palette.mode)
        say("theme: \(theme.name)")
    }

    // MARK: prompt

    func promptKey(_ key: Key) {
        switch key {
        case .char(let c): conversation.input.append(c)
        case .backspace: if !conversation.input.isEmpty { conversation.input.removeLast() }
        case .enter: sendPrompt()
        case .escape:
            if conversation.streaming { stopAnswer() } else { focus = .dashboard }
        case .tab: cycleFocus(1)
        case .backTab: cycleFocus(-1)
        case .pageUp, .up: conversation.scroll += key == .pageUp ? 5 : 1
        case .pageDown, .down: conversation.scroll = max(0, conversation.scroll - (key == .pageDown ? 5 : 1))
        case .ctrl("l"):
            conversation.clear()
            say("conversation cleared")
        case .ctrl("u"): conversation.input = ""
        default: break
        }
    }

    func sendPrompt() {
        if conversation.streaming {
            say("an answer is still streaming: Esc stops it", error: true)
            return
        }
        guard let messages = conversation.send() else { return }
        answerNumber += 1
        stopWhenStarted = false
        let n = answerNumber
        let prompt: EngineRequest.Prompt
        let addBOS: Bool
        if let format = config.chatFormat {
            // Chat formats write their own BOS text where the model wants one.
            prompt = .text(format.render(messages))
            addBOS = false
        } else {
            prompt = .text(messages.last?.content ?? "")
            addBOS = true
        }
        let request = EngineRequest(prompt: prompt, maxTokens: config.maxAnswerTokens, sampling: config.sampling, addBOS: addBOS)
        let engine = self.engine, inbox = self.inbox
        Task.detached {
            do {
                let (id, updates) = try await engine.submit(request)
                inbox.post(.answerStarted(answer: n, requestID: id))
                for await update in updates {
                    if !update.newText.isEmpty { inbox.post(.answerText(answer: n, update.newText)) }
                    if let reason = update.finishReason {
                        inbox.post(.answerEnded(answer: n, reason == .abort ? "stopped" : reason.rawValue))
                    }
                }
            } catch {
                inbox.post(.answerEnded(answer: n, "error: \(error)"))
            }
        }
    }

    func stopAnswer() {
        if let id = conversation.activeRequest { engine.abort(id) } else { stopWhenStarted = true }
        say("stopping the answer")
    }

    // MARK: tuner

    /// Returns false for keys the tuner does not use (they fall through to the global keys).
    func tunerKey(_ key: Key) -> Bool {
        let applied = stats.config
        switch key {
        case .up: tuner.select(offset: -1)
        case .down: tuner.select(offset: 1)
        case .escape:
            if tuner.pending.isEmpty && tuner.typed == nil { focus = .dashboard } else { tuner.discardPending(); say("pending changes discarded") }
        case .char("s"): saveKnobs()
        case .left, .right, .char("-"), .char("+"), .char("="), .char("_"), .enter, .backspace:
            guard !tuner.readOnly else { say("read-only: the tuner is disabled (--read-only)", error: true); return true }
            switch key {
            case .left: tuner.adjust(by: -1, applied: applied)
            case .right: tuner.adjust(by: 1, applied: applied)
            case .char("-"), .char("_"): tuner.adjust(scale: 0.5, applied: applied)
            case .char("+"), .char("="): tuner.adjust(scale: 2, applied: applied)
            case .backspace: tuner.backspace()
            default:
                tuner.commitTyped(applied: applied)
                applyPending()
            }
        case .char(let c) where c.isASCII && c.isNumber:
            guard !tuner.readOnly else { say("read-only: the tuner is disabled (--read-only)", error: true); return true }
            tuner.type(c)
        default: return false
        }
        return true
    }

    /// Sends the pending knobs to the engine; it validates them and the answer comes back as an event.
    func applyPending() {
        guard !tuner.pending.isEmpty else { say("nothing pending: change a value first (←/→, -/+, digits)"); return }
        let knobs = SavedKnobs(maxNumBatchedTokens: tuner.pending[.maxNumBatchedTokens], maxNumSeqs: tuner.pending[.maxNumSeqs],
                               maxModelLen: tuner.pending[.maxModelLen])
        tuner.applying = true
        tuner.message = ("applying…", false)
        let engine = self.engine, inbox = self.inbox
        Task.detached {
            do {
                try await engine.setKnobs(maxNumBatchedTokens: knobs.maxNumBatchedTokens, maxNumSeqs: knobs.maxNumSeqs,
                                          maxModelLen: knobs.maxModelLen)
                inbox.post(.knobsApplied(knobs))
            } catch {
                inbox.post(.knobsRefused("\(error)"))
            }
        }
    }

    func saveKnobs() {
        do {
            try KnobStore.save(SavedKnobs(stats.config), path: config.knobsPath)
            tuner.message = ("saved to \(config.knobsPath)", false)
            say("knobs saved to \(config.knobsPath) (read at the next start)")
        } catch {
            say("cannot save knobs to \(config.knobsPath): \(error)", error: true)
        }
    }

    // MARK: the `:` command line

    func editCommandLine(_ key: Key) {
        guard var line = commandLine else { return }
        switch key {
        case .escape: commandLine = nil; return
        case .enter:
            commandLine = nil
            run(command: line)
            return
        case .backspace:
            if line.isEmpty { commandLine = nil; return }
            line.removeLast()
        case .char(let c): line.append(c)
        case .ctrl("u"): line = ""
        default: break
        }
        commandLine = line
    }

    /// Runs one `:` command (`set`, `apply`, `save`, `theme`, `mode`, `decay`, `clear`, `help`, `q`).
    public func run(command: String) {
        let words = command.split(separator: " ")
        guard let verb = words.first else { return }
        let args = Array(words.dropFirst())
        switch verb {
        case "set":
            guard !tuner.readOnly else { say("read-only: the tuner is disabled (--read-only)", error: true); return }
            switch Tuner.parseSet(args) {
            case .failure(let e): say(e.description, error: true)
            case .success(let (knob, value)):
                tuner.selected = knob
                tuner.setPending(knob, value, applied: stats.config)
                if tuner.pending.isEmpty { say("\(knob.rawValue) is already \(value)") } else { applyPending() }
            }
        case "apply":
            guard !tuner.readOnly else { say("read-only: the tuner is disabled (--read-only)", error: true); return }
            applyPending()
        case "save", "w": saveKnobs()
        case "theme":
            guard let name = args.first else { say("themes: \(Theme.builtInNames.joined(separator: ", ")) or a path"); return }
            do { setTheme(try Theme.load(String(name))) } catch { say("\(error)", error: true) }
        case "mode":
            guard let m = args.first.flatMap({ RoutingHeat.Mode(rawValue: String($0)) }) else {
                say("usage: :mode all|prefill|decode", error: true)
                return
            }
            heat.mode = m
            say("routing heat map: \(m.rawValue) tokens")
        case "decay":
            guard let s = args.first.flatMap({ Double($0) }), s > 0 else { say("usage: :decay SECONDS", error: true); return }
            heat.tau = s
            say("routing heat map: decay time constant \(String(format1: s)) s")
        case "clear":
            conversation.clear()
            say("conversation cleared")
        case "help": showHelp = true
        case "q", "quit": quitRequested = true
        default: say("unknown command \"\(verb)\" (set, apply, save, theme, mode, decay, clear, help, q)", error: true)
        }
    }
}
