import TesseraFormats
import TesseraModels

extension ModelLocation {
    /// The chat template the model carries (GGUF metadata or `tokenizer_config.json`), or `nil` when it has none.
    /// - Throws: ``TokenizerError/unsupportedChatTemplate(excerpt:)`` for a template Tessera cannot render.
    public func chatTemplate() throws -> ChatTemplate? {
        format == .gguf ? try ChatTemplate(gguf: GGUFFile(path: path)) : try ChatTemplate(huggingFaceDirectory: path)
    }

    /// The ids that end a continuation: the tokenizer's and the configuration's end of sequence, and for a chat the
    /// end-of-turn markers of the templates Tessera renders.
    public static func stopTokens(tokenizer: any Tokenizer, config: TransformerConfig, chat: Bool) -> Set<Int32> {
        var stop = Set([tokenizer.specialTokens.eos, config.eosTokenId.map(Int32.init)].compactMap { $0 })
        if chat, let bpe = tokenizer as? BPETokenizer {
            stop.formUnion(["<|im_end|>", "<|eot_id|>"].compactMap(bpe.id(of:)))
        }
        return stop
    }
}
