import Foundation

/// A colour gradient from a theme's `NAME_start` / `NAME_mid` / `NAME_end` keys (btop's convention).
public struct Gradient: Equatable, Sendable {
    public var stops: [RGB]
    public init(_ stops: [RGB]) { self.stops = stops.isEmpty ? [RGB(255, 255, 255)] : stops }

    /// The colour at `t` in 0...1.
    public func at(_ t: Double) -> RGB {
        guard stops.count > 1 else { return stops[0] }
        let x = min(1, max(0, t.isFinite ? t : 0)) * Double(stops.count - 1)
        let i = min(Int(x), stops.count - 2)
        return stops[i].mixed(with: stops[i + 1], x - Double(i))
    }
}

/// A colour theme in btop's text format: one `theme[key]="#RRGGBB"` per line (also `"#RG"`-style grey
/// `"#BW"` as two hex digits, and `"R G B"` in decimal; `""` means the terminal's default). Lines starting
/// with `#` are comments. `*_start` / `*_mid` / `*_end` triples are gradients.
public struct Theme: Equatable, Sendable {
    public var name: String
    public var colors: [String: RGB]
    /// Keys set to "" (the terminal's own colour).
    public var defaulted: Set<String>

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(name: String, colors: [String: RGB], defaulted: Set<String> = []) {
        self.name = name
        self.colors = colors
        self.defaulted = defaulted
    }

    /// Parses theme text; a line that is not a comment, blank or a valid `theme[...]` assignment is an error
    /// naming its line number.
    public static func parse(_ text: String, name: String) throws -> Theme {
        var colors: [String: RGB] = [:], defaulted = Set<String>()
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard line.hasPrefix("theme["), let close = line.firstIndex(of: "]"),
                  let eq = line[close...].firstIndex(of: "=") else {
                throw ParseError(description: "\(name): line \(n + 1): expected theme[key]=\"#RRGGBB\", got \(line)")
            }
            let key = String(line[line.index(line.startIndex, offsetBy: 6)..<close]).trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            value = value.trimmingCharacters(in: .whitespaces)
            if value.isEmpty { defaulted.insert(key); continue }
            guard let rgb = parseColor(value) else {
                throw ParseError(description: "\(name): line \(n + 1): \(key): cannot read colour \"\(value)\" (use #RRGGBB, #GG grey or \"R G B\")")
            }
            colors[key] = rgb
        }
        return Theme(name: name, colors: colors, defaulted: defaulted)
    }

    static func parseColor(_ v: String) -> RGB? {
        if v.hasPrefix("#") {
            let hex = v.dropFirst()
            guard let n = UInt32(hex, radix: 16) else { return nil }
            if hex.count == 6 { return RGB(UInt8(n >> 16), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)) }
            if hex.count == 2 { return RGB(UInt8(n), UInt8(n), UInt8(n)) }
            return nil
        }
        let parts = v.split(separator: " ").compactMap { UInt8($0) }
        return parts.count == 3 ? RGB(parts[0], parts[1], parts[2]) : nil
    }

    /// A key's colour: the theme's, else the fallback chain's, else nil (the terminal's default).
    public func color(_ key: String) -> RGB? {
        if defaulted.contains(key) { return nil }
        if let c = colors[key] { return c }
        return Self.fallbacks[key].flatMap { color($0) }
    }

    /// The gradient `key_start` / `key_mid` / `key_end`; a missing stop is skipped, none at all gives the
    /// main foreground.
    public func gradient(_ key: String) -> Gradient {
        let stops = ["_start", "_mid", "_end"].compactMap { colors[key + $0] }
        return Gradient(stops.isEmpty ? [color("main_fg") ?? RGB(200, 200, 200)] : stops)
    }

    /// Keys a theme may leave out, and which key stands in for them.
    static let fallbacks: [String: String] = [
        "title": "main_fg", "hi_fg": "main_fg", "inactive_fg": "main_fg", "div_line": "inactive_fg",
        "selected_fg": "main_fg", "graph_text": "main_fg", "user_fg": "hi_fg", "model_fg": "main_fg",
        "error_fg": "hi_fg", "ok_fg": "main_fg", "warn_fg": "hi_fg", "meter_bg": "inactive_fg", "heat_dormant": "inactive_fg",
        "status_bg": "selected_bg", "status_fg": "main_fg", "overlay_bg": "selected_bg",
    ]

    /// The themes shipped in `Themes/`, built in so the binary works wherever it is installed.
    public static let builtIn: [Theme] = BuiltinThemes.all.map { try! Theme.parse($0.text, name: $0.name) }
    public static var builtInNames: [String] { BuiltinThemes.all.map(\.name) }

    /// `--theme NAME` (a built-in, or a file in $XDG_CONFIG_HOME/herd/themes) or a path to a theme file.
    public static func load(_ nameOrPath: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Theme {
        if let t = builtIn.first(where: { $0.name == nameOrPath }) { return t }
        var candidates = [nameOrPath]
        if !nameOrPath.contains("/") {
            let dir = KnobStore.configDirectory(environment: environment) + "/themes/"
            candidates = [dir + nameOrPath + ".theme", dir + nameOrPath]
        }
        for path in candidates where FileManager.default.fileExists(atPath: path) {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let base = (path as NSString).lastPathComponent.replacingOccurrences(of: ".theme", with: "")
            return try parse(text, name: base)
        }
        throw ParseError(description: "no theme \"\(nameOrPath)\" (built in: \(builtInNames.joined(separator: ", ")); or give a path to a .theme file)")
    }
}
