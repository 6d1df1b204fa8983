extension ByteTokenizer {
    /// The byte tokenizer as a Hugging Face `tokenizer.json`: byte-level BPE whose vocabulary maps the byte-level
    /// spelling of byte `b` to id `b` and has no merges, so transformers' `PreTrainedTokenizerFast` (and
    /// ``BPETokenizer/init(tokenizerJSON:config:)``) encode every text to exactly its UTF-8 bytes. A model trained
    /// with `--tokenizer byte` is saved with it, so the directory works anywhere a Hugging Face model does.
    public static var huggingFaceTokenizerJSON: String {
        let vocabulary = (0..<256).map { byte -> JSONObject.Member in
            JSONObject.Member(key: String(ByteLevel.characterForByte[byte]), value: .integer(Int64(byte)))
        }
        let byteLevel = JSONValue.object(JSONObject([
            .init(key: "type", value: .string("ByteLevel")), .init(key: "add_prefix_space", value: .bool(false)),
            .init(key: "trim_offsets", value: .bool(false)), .init(key: "use_regex", value: .bool(false)),
        ]))
        let model = JSONValue.object(JSONObject([
            .init(key: "type", value: .string("BPE")), .init(key: "dropout", value: .null), .init(key: "unk_token", value: .null),
            .init(key: "continuing_subword_prefix", value: .null), .init(key: "end_of_word_suffix", value: .null),
            .init(key: "fuse_unk", value: .bool(false)), .init(key: "byte_fallback", value: .bool(false)),
            .init(key: "ignore_merges", value: .bool(false)),
            .init(key: "vocab", value: .object(JSONObject(vocabulary))), .init(key: "merges", value: .array([])),
        ]))
        return JSONValue.object(JSONObject([
            .init(key: "version", value: .string("1.0")), .init(key: "truncation", value: .null), .init(key: "padding", value: .null),
            .init(key: "added_tokens", value: .array([])), .init(key: "normalizer", value: .null),
            .init(key: "pre_tokenizer", value: byteLevel), .init(key: "post_processor", value: .null),
            .init(key: "decoder", value: byteLevel), .init(key: "model", value: model),
        ])).serialized + "\n"
    }
}
