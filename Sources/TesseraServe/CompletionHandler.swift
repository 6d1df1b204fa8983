import Foundation
import Hummingbird
import TesseraFormats

/// `/v1/completions` and `/v1/chat/completions`: a whole JSON response, or server-sent events with `stream`.
package struct CompletionHandler: Sendable {
    package let state: ServingState
    package let metrics: ServerMetrics
    package let servedName: String

    package func respond(_ body: [UInt8], kind: GenerationRequest.Kind) async throws -> Response {
        let request = try GenerationRequest(body: body, kind: kind)
        let (model, scheduler) = try state.serving()
        if let name = request.model, name != model.name {
            throw APIError(.notFound, "the model '\(name)' does not exist; this server serves '\(model.name)'", param: "model")
        }
        let run = try GenerationRun(request, model: model, scheduler: scheduler, metrics: metrics)
        metrics.requests.increment()
        let prefix = kind == .chat ? "chatcmpl-" : "cmpl-"
        let shapes = ResponseShapes(kind: kind, id: prefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased(),
                                    created: Int64(Date().timeIntervalSince1970), model: model.name)
        return request.stream ? stream(run, shapes: shapes) : try await whole(run, shapes: shapes)
    }

    private func whole(_ run: GenerationRun, shapes: ResponseShapes) async throws -> Response {
        let count = run.choiceCount
        var texts = [String](repeating: "", count: count)
        var logprobs = [[LogprobEntry]?](repeating: run.request.logprobs == nil ? nil : [], count: count)
        var reasons = [FinishReason](repeating: .length, count: count)
        let usage = try await run.run { output in
            switch output {
            case let .text(index, text, entries):
                texts[index] += text
                if let entries { logprobs[index]? += entries }
            case let .finish(index, reason):
                reasons[index] = reason
            }
        }
        let choices = (0..<count).map { (texts[$0], logprobs[$0], reasons[$0]) }
        return Response.json(shapes.response(choices, usage: usage))
    }

    /// Server-sent events: (chat) a role chunk per choice, then a chunk per piece of text, a finish chunk per choice,
    /// the usage chunk when asked, `[DONE]`. A client that goes away ends the run, which cancels its sequences.
    private func stream(_ run: GenerationRun, shapes: ResponseShapes) -> Response {
        let includeUsage = run.request.includeUsage
        let body = ResponseBody { writer in
            var offsets = [Int](repeating: 0, count: run.choiceCount)
            func send(_ value: JSONValue) async throws {
                try await writer.write(ByteBuffer(string: ServerSentEvents.event(value)))
            }
            do {
                if shapes.kind == .chat {
                    for index in 0..<run.choiceCount {
                        try await send(shapes.chunk(index: index, text: "", first: true, logprobs: nil, textOffset: 0,
                                                    finish: nil, includeUsage: includeUsage))
                    }
                }
                let usage = try await run.run { output in
                    switch output {
                    case let .text(index, text, entries):
                        try await send(shapes.chunk(index: index, text: text, first: false, logprobs: entries,
                                                    textOffset: offsets[index], finish: nil, includeUsage: includeUsage))
                        offsets[index] += text.count
                    case let .finish(index, reason):
                        try await send(shapes.chunk(index: index, text: "", first: false, logprobs: nil,
                                                    textOffset: offsets[index], finish: reason, includeUsage: includeUsage))
                    }
                }
                if includeUsage { try await send(shapes.usageChunk(usage)) }
            } catch let error as APIError {
                try await send(error.json)
            }
            try await writer.write(ByteBuffer(string: ServerSentEvents.done))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}
