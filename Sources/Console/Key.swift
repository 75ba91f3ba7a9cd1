/// A key press, independent of curses (tests make these directly).
public enum Key: Equatable, Sendable {
    case char(Character)
    case ctrl(Character)  // Ctrl + a letter, lower case
    case enter, escape, backspace, delete, tab, backTab
    case up, down, left, right, pageUp, pageDown, home, end
    case function(Int)
    case resize

    /// Keys from plain bytes, as a terminal sends them without curses' key translation.
    public static func fromScalar(_ v: UInt32) -> Key? {
        switch v {
        case 9: return .tab
        case 10, 13: return .enter
        case 27: return .escape
        case 8, 127: return .backspace
        case 1...26: return .ctrl(Character(UnicodeScalar(v + 96)!))
        case 0, 28...31: return nil
        default: return UnicodeScalar(v).map { .char(Character($0)) }
        }
    }
}
