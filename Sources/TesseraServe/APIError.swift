import Hummingbird
import TesseraFormats

/// An error as OpenAI's API reports it: an HTTP status and `{"error": {"message", "type", "param", "code"}}`.
public struct APIError: Error, Equatable, Sendable, HTTPResponseError {
    public var status: HTTPResponse.Status
    public var message: String
    /// The request field at fault, when there is one.
    public var param: String?

    public init(_ status: HTTPResponse.Status, _ message: String, param: String? = nil) {
        self.status = status
        self.message = message
        self.param = param
    }

    /// A 400 for an invalid value of `param`.
    package static func invalid(_ param: String, _ message: String) -> APIError {
        APIError(.badRequest, message, param: param)
    }

    /// OpenAI's `type` for the status.
    package var type: String {
        switch status.code {
        case 401: return "authentication_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_exceeded"
        case 500...: return "server_error"
        default: return "invalid_request_error"
        }
    }

    package var json: JSONValue {
        .object(JSONObject([
            "error": .object(JSONObject([
                "message": .string(message), "type": .string(type), "param": param.map(JSONValue.string) ?? .null,
                "code": .integer(Int64(status.code)),
            ])),
        ]))
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response.json(json, status: status)
    }

    /// The API error for a scheduler refusal.
    package init(_ error: ServeError) {
        switch error {
        case .queueFull: self.init(.tooManyRequests, error.description)
        case .shuttingDown: self.init(.serviceUnavailable, error.description)
        case .invalidRequest: self.init(.badRequest, error.description)
        case .internalFailure: self.init(.internalServerError, error.description)
        }
    }
}

extension Response {
    /// A JSON response.
    package static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized)))
    }
}
