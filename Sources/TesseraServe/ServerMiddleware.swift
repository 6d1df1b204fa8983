import Hummingbird

/// Turns every error into OpenAI's error JSON with its status (unknown paths 404, oversized bodies 413, anything
/// unexpected 500) and counts the failed requests.
package struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    package let metrics: ServerMetrics

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            metrics.failedRequests.increment()
            return Response.json(error.json, status: error.status)
        } catch let error as any HTTPResponseError {
            metrics.failedRequests.increment()
            let message = switch error.status.code {
            case 404: "no route \(request.method) \(request.uri.path); see /v1/models, /v1/completions, /v1/chat/completions"
            case 413: "the request body is larger than \(ServerRoutes<Context>.maxBodyBytes) bytes"
            default: "\(error.status.reasonPhrase)"
            }
            let api = APIError(error.status, message)
            return Response.json(api.json, status: api.status)
        }
    }
}

/// With `--api-key`, every path but `/health` and `/metrics` needs `Authorization: Bearer KEY` (401 otherwise).
package struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    package let key: String

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path != "/health", path != "/metrics" else { return try await next(request, context) }
        guard request.headers[.authorization] == "Bearer \(key)" else {
            throw APIError(.unauthorized, "missing or wrong API key; send the header 'Authorization: Bearer <key>' with the key the server was started with")
        }
        return try await next(request, context)
    }
}
