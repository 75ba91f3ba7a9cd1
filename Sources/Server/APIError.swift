import Foundation
import HTTPTypes
import Hummingbird

/// An error answered in vLLM's JSON shape: `{"error":{"message","type","param","code"}}`, HTTP status = code.
struct APIError: Error {
    let status: HTTPResponse.Status
    let type: String
    let message: String
    let param: String?

    static func badRequest(_ message: String, param: String? = nil) -> APIError {
        APIError(status: .badRequest, type: "BadRequestError", message: message, param: param)
    }
    static func notFound(_ message: String, param: String? = nil) -> APIError {
        APIError(status: .notFound, type: "NotFoundError", message: message, param: param)
    }
    static let unauthorized = APIError(status: .unauthorized, type: "AuthenticationError",
                                       message: "Unauthorized: a valid API key is required (Authorization: Bearer <key>).", param: nil)
    static func tooLarge(_ limit: Int) -> APIError {
        APIError(status: .contentTooLarge, type: "BadRequestError", message: "Request body is larger than \(limit) bytes.", param: nil)
    }
    static func `internal`(_ message: String) -> APIError {
        APIError(status: .internalServerError, type: "InternalServerError", message: message, param: nil)
    }

    var body: [String: Any] {
        ["error": ["message": message, "type": type, "param": param ?? NSNull(), "code": Int(status.code)] as [String: Any]]
    }

    var response: Response {
        jsonResponse(body, status: status)
    }
}

/// A JSON response from a JSONSerialization-compatible value.
func jsonResponse(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data("{}".utf8)
    return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
}

func jsonData(_ object: Any) -> Data {
    (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data("{}".utf8)
}
