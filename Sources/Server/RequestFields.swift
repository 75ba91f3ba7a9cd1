import Foundation

/// Typed access to a JSON request body with vLLM-style errors that name the field.
struct RequestFields {
    let object: [String: Any]

    /// Parses a body; malformed JSON or a non-object is a 400.
    init(_ data: Data) throws(APIError) {
        guard !data.isEmpty else { throw .badRequest("The request body is empty; expected a JSON object.") }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            throw .badRequest("The request body is not valid JSON.")
        }
        guard let object = parsed as? [String: Any] else { throw .badRequest("The request body must be a JSON object.") }
        self.object = object
    }

    func has(_ key: String) -> Bool { object[key] != nil && !(object[key] is NSNull) }

    func string(_ key: String) throws(APIError) -> String? {
        guard has(key) else { return nil }
        guard let s = object[key] as? String else { throw .badRequest("'\(key)' must be a string.", param: key) }
        return s
    }

    func int(_ key: String) throws(APIError) -> Int? {
        guard has(key) else { return nil }
        guard let n = object[key] as? NSNumber, !isBool(n), let i = Int(exactly: n.doubleValue) else {
            throw .badRequest("'\(key)' must be an integer.", param: key)
        }
        return i
    }

    func double(_ key: String) throws(APIError) -> Double? {
        guard has(key) else { return nil }
        guard let n = object[key] as? NSNumber, !isBool(n), n.doubleValue.isFinite else {
            throw .badRequest("'\(key)' must be a number.", param: key)
        }
        return n.doubleValue
    }

    func bool(_ key: String) throws(APIError) -> Bool? {
        guard has(key) else { return nil }
        guard let n = object[key] as? NSNumber, isBool(n) else { throw .badRequest("'\(key)' must be a boolean.", param: key) }
        return n.boolValue
    }

    /// `stop`: a string or a list of strings.
    func stopStrings() throws(APIError) -> [String] {
        guard has("stop") else { return [] }
        if let s = object["stop"] as? String { return [s] }
        if let list = object["stop"] as? [Any], let strings = list as? [String] { return strings }
        throw .badRequest("'stop' must be a string or a list of strings.", param: "stop")
    }

    func dictionary(_ key: String) throws(APIError) -> [String: Any]? {
        guard has(key) else { return nil }
        guard let d = object[key] as? [String: Any] else { throw .badRequest("'\(key)' must be an object.", param: key) }
        return d
    }

    /// JSONSerialization gives booleans as NSNumbers of ObjC type "c" (numbers are "i", "q", "d").
    private func isBool(_ n: NSNumber) -> Bool {
        String(cString: n.objCType) == "c"
    }
}
