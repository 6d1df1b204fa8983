import Foundation
import Hummingbird
import TesseraFormats

/// The server's HTTP routes: OpenAI's completions, chat completions and models, and health, metrics, tokenize and
/// detokenize as vLLM offers them.
package struct ServerRoutes<Context: RequestContext> {
    /// Largest request body accepted (413 beyond).
    package static var maxBodyBytes: Int { 2 << 20 }

    package let state: ServingState
    package let metrics: ServerMetrics
    package let servedName: String

    package func add(to router: Router<Context>, apiKey: String?) {
        router.add(middleware: OpenAIErrorMiddleware(metrics: metrics))
        if let apiKey { router.add(middleware: APIKeyMiddleware(key: apiKey)) }
        router.get("/health") { _, _ in
            _ = try state.serving()
            return Response.json(.object(JSONObject([:])))
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.text)))
        }
        router.get("/v1/models") { _, _ in
            Response.json(.object(JSONObject(["object": .string("list"), "data": .array([try modelCard()])])))
        }
        router.get("/v1/models/{id}") { _, context in
            let id = try context.parameters.require("id")
            guard id == servedName else { throw APIError(.notFound, "the model '\(id)' does not exist; this server serves '\(servedName)'", param: "model") }
            return Response.json(try modelCard())
        }
        let completions = CompletionHandler(state: state, metrics: metrics, servedName: servedName)
        router.post("/v1/completions") { request, _ in
            try await completions.respond(try await body(request), kind: .completion)
        }
        router.post("/v1/chat/completions") { request, _ in
            try await completions.respond(try await body(request), kind: .chat)
        }
        router.post("/tokenize") { request, _ in try tokenize(try await body(request)) }
        router.post("/detokenize") { request, _ in try detokenize(try await body(request)) }
    }

    private func body(_ request: Request) async throws -> [UInt8] {
        var request = request
        let buffer = try await request.collectBody(upTo: Self.maxBodyBytes)
        return Array(buffer.readableBytesView)
    }

    private func modelCard() throws -> JSONValue {
        let (model, _) = try state.serving()
        return .object(JSONObject([
            "id": .string(model.name), "object": .string("model"), "created": .integer(0), "owned_by": .string("tessera"),
            "max_model_len": .integer(Int64(model.contextLength)),
        ]))
    }

    /// `{"prompt": text}` or `{"messages": [...]}` (optionally `add_special_tokens`) → `{"tokens", "count", "max_model_len"}`.
    private func tokenize(_ body: [UInt8]) throws -> Response {
        let (model, _) = try state.serving()
        let fields = try RequestFields(body: body)
        try checkModel(fields, model)
        let ids: [Int32]
        do {
            if fields.value("messages") != nil {
                var chat = try GenerationRequest(body: body, kind: .chat)
                chat.maxTokens = nil
                ids = try model.promptIDs(chat)[0]
            } else {
                guard let prompt = try fields.string("prompt") else { throw APIError.invalid("prompt", "'prompt' (a string) or 'messages' is required") }
                let special = try fields.bool("add_special_tokens") ?? true
                ids = try model.tokenizer.encode(prompt, addingSpecialTokens: special)
            }
        } catch let error as TokenizerError {
            throw APIError.invalid("prompt", "\(error)")
        }
        return Response.json(.object(JSONObject([
            "tokens": .array(ids.map { .integer(Int64($0)) }), "count": .integer(Int64(ids.count)),
            "max_model_len": .integer(Int64(model.contextLength)),
        ])))
    }

    /// `{"tokens": [ids]}` → `{"prompt": text}`.
    private func detokenize(_ body: [UInt8]) throws -> Response {
        let (model, _) = try state.serving()
        let fields = try RequestFields(body: body)
        try checkModel(fields, model)
        guard let tokens = fields.value("tokens")?.array else { throw APIError.invalid("tokens", "'tokens' (a list of token ids) is required") }
        let ids = try tokens.map { value -> Int32 in
            guard let integer = value.integer, let id = Int32(exactly: integer), id >= 0, Int(id) < model.vocabularySize else {
                throw APIError.invalid("tokens", "'tokens' must hold ids in 0..<\(model.vocabularySize)")
            }
            return id
        }
        let text = String(decoding: try model.tokenizer.decodeBytes(ids, skippingSpecialTokens: false), as: UTF8.self)
        return Response.json(.object(JSONObject(["prompt": .string(text)])))
    }

    private func checkModel(_ fields: RequestFields, _ model: ServedModel) throws {
        if let name = try fields.string("model"), name != model.name {
            throw APIError(.notFound, "the model '\(name)' does not exist; this server serves '\(model.name)'", param: "model")
        }
    }
}
