import Foundation
import Testing
import TesseraFormats

/// Ids written by the reference tokenizers (scripts/make_tokenizer_fixtures.py → Fixtures/tokenizer_reference.json).
struct TokenizerReference: Decodable {
    struct Case: Decodable {
        let text: String
        let ids: [Int32]
        let decoded: String
    }

    struct Chat: Decodable {
        let messages: [ChatMessage]
        let add_generation_prompt: Bool
        let rendered: String
        let ids: [Int32]?
    }

    struct Llama3Chat: Decodable {
        let template: String
        let bos_token: String
        let chats: [Chat]
    }

    struct Tiny: Decodable {
        let cases: [Case]
        let with_special_tokens: [Int32]
    }

    let gpt2: [Case]
    let smollm2: [Case]
    let smollm2_chats: [Chat]
    let llama3_chat: Llama3Chat
    let tiny: [String: Tiny]
    let byte_fallback: [Case]

    static let shared: TokenizerReference = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: Locations.fixtures + "/tokenizer_reference.json"))
        return try! JSONDecoder().decode(TokenizerReference.self, from: data)
    }()
}

/// Expects `tokenizer` to reproduce every reference case: ids exactly, and decoding back to the reference text.
func expectMatches(_ tokenizer: some Tokenizer, _ cases: [TokenizerReference.Case], _ label: String) throws -> Int {
    var mismatches = 0
    for reference in cases {
        let ids = try tokenizer.encode(reference.text)
        if ids != reference.ids { mismatches += 1 }
        #expect(ids == reference.ids, "\(label): \(reference.text.debugDescription)")
        #expect(try tokenizer.decode(reference.ids) == reference.decoded, "\(label) decode: \(reference.text.debugDescription)")
    }
    return mismatches
}
