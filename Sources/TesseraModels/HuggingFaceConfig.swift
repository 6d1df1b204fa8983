import Foundation
import TesseraFormats
import TesseraParallel
import TesseraFiles

/// Reading and writing Hugging Face `config.json` for every ``ModelFamily``, through the family's ``HuggingFaceNaming``.
extension TransformerConfig {
    /// Parses a Hugging Face `config.json`.
    /// - Parameter path: named in errors.
    /// - Throws: ``ModelError/invalidFile(path:reason:)`` for unreadable JSON, a missing or mistyped field or an
    ///   unsupported feature (rope scaling, a flag the family cannot honour such as Llama's `attention_bias`, another
    ///   activation); ``ModelError`` from ``validate()``.
    public init(huggingFaceJSON text: String, path: String) throws {
        let json: JSONValue
        do { json = try JSONValue.parse(text) } catch { throw ModelError.invalidFile(path: path, reason: "not valid JSON: \(error)") }
        guard json.object != nil else { throw ModelError.invalidFile(path: path, reason: "config.json must hold a JSON object") }
        let reader = HuggingFaceConfigReader(json: json, path: path)
        let type = json["model_type"]?.string ?? ""
        guard let family = ModelFamily.all.first(where: { $0.huggingFace.modelType == type }) else {
            throw reader.unsupported("model_type \"\(type)\"")
        }
        for flag in family.huggingFace.falseFlags {
            if try reader.bool(flag, default: false) { throw reader.unsupported("\"\(flag)\": true") }
        }
        var config = try family.huggingFace.configKeys == .gpt2 ? reader.gpt2Keys(family) : reader.llamaKeys(family)
        config.tiedEmbeddings = try reader.bool("tie_word_embeddings", default: family.huggingFace.tiedByDefault)
        config.initializerRange = try reader.float("initializer_range", default: 0.02)
        config.bosTokenId = reader.token("bos_token_id")
        config.eosTokenId = reader.token("eos_token_id")
        if let keys = family.huggingFace.expertKeys { config.moe = try reader.mixtureOfExperts(keys, config: config) }
        try config.validate()
        self = config
    }

    /// The configuration as Hugging Face `config.json` text (the keys transformers reads for this family).
    public var huggingFaceJSON: String { huggingFaceJSON(torchDType: "float32") }

    /// The `config.json` text naming `torchDType` (`float32`, `float16`, `bfloat16`) as the weights' type.
    public func huggingFaceJSON(torchDType: String) -> String {
        func int(_ value: Int) -> JSONValue { .integer(Int64(value)) }
        func number(_ value: Float) -> JSONValue { .number(Double(value)) }
        func token(_ value: Int?) -> JSONValue { value.map(int) ?? .null }
        let naming = family.huggingFace
        var members: [(String, JSONValue)] = [
            ("architectures", .array([.string(naming.modelClass)])), ("model_type", .string(naming.modelType)),
            ("vocab_size", int(vocabularySize)),
        ]
        switch naming.configKeys {
        case .gpt2:
            members += [
                ("n_positions", int(contextLength)), ("n_embd", int(hiddenSize)),
                ("n_layer", int(layers)), ("n_head", int(attention.heads)), ("n_inner", int(mlp.intermediateSize)),
                ("activation_function", .string("gelu_new")), ("layer_norm_epsilon", number(norm.epsilon)),
            ]
        case .llama:
            members += [
                ("max_position_embeddings", int(contextLength)),
                ("hidden_size", int(hiddenSize)), ("intermediate_size", int(mlp.intermediateSize)),
                ("num_hidden_layers", int(layers)), ("num_attention_heads", int(attention.heads)),
                ("num_key_value_heads", int(attention.kvHeads)), ("head_dim", int(attention.headDim)),
                ("hidden_act", .string("silu")), ("rms_norm_eps", number(norm.epsilon)),
                ("rope_theta", number(attention.ropeTheta ?? 10_000)),
            ]
        }
        if let keys = naming.expertKeys, let moe { members += moe.huggingFaceMembers(keys) }
        members += naming.falseFlags.map { ($0, .bool(false)) }
        members += [
            ("tie_word_embeddings", .bool(tiedEmbeddings)), ("initializer_range", number(initializerRange)),
            ("bos_token_id", token(bosTokenId)), ("eos_token_id", token(eosTokenId)), ("torch_dtype", .string(torchDType)),
        ]
        return JSONValue.object(JSONObject(members.map { JSONObject.Member(key: $0.0, value: $0.1) })).serialized + "\n"
    }

    /// Reads `config.json` at `path` (a file, or a directory holding one).
    /// - Throws: ``ModelError/invalidFile(path:reason:)`` when it cannot be read or parsed.
    public init(contentsOf path: String) throws {
        var isDirectory: ObjCBool = false
        let file = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            ? (path as NSString).appendingPathComponent("config.json") : path
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            throw ModelError.invalidFile(path: file, reason: "cannot read the file (missing or not UTF-8); give a preset name, a config.json or a model directory")
        }
        try self.init(huggingFaceJSON: text, path: file)
    }

    /// Writes `config.json` into `directory` (created if needed), atomically.
    /// - Parameter torchDType: the weights' type as transformers names it.
    public func writeHuggingFaceConfig(toDirectory directory: String, torchDType: String = "float32") throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try AtomicWrite.write(huggingFaceJSON(torchDType: torchDType), to: (directory as NSString).appendingPathComponent("config.json"))
        } catch {
            throw ModelError.invalidFile(path: directory, reason: "cannot write config.json: \(error)")
        }
    }
}

/// Typed reads of one `config.json`, with errors naming the file and the key.
struct HuggingFaceConfigReader {
    let json: JSONValue
    let path: String

    func int(_ key: String, default value: Int? = nil) throws -> Int {
        if let v = json[key], !v.isNull {
            guard let i = v.integer else { throw ModelError.invalidFile(path: path, reason: "\"\(key)\" must be an integer") }
            return Int(i)
        }
        guard let value else { throw ModelError.invalidFile(path: path, reason: "\"\(key)\" is missing") }
        return value
    }

    func float(_ key: String, in object: JSONValue? = nil, default value: Float) throws -> Float {
        guard let v = (object ?? json)[key], !v.isNull else { return value }
        guard let d = v.double else { throw ModelError.invalidFile(path: path, reason: "\"\(key)\" must be a number") }
        return Float(d)
    }

    func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let v = json[key], !v.isNull else { return value }
        guard let b = v.bool else { throw ModelError.invalidFile(path: path, reason: "\"\(key)\" must be true or false") }
        return b
    }

    func token(_ key: String) -> Int? { json[key]?.integer.map(Int.init) }

    func unsupported(_ what: String) -> ModelError {
        let types = ModelFamily.phrase(ModelFamily.all.map(\.huggingFace.modelType))
        return ModelError.invalidFile(path: path, reason: "\(what) is not supported; Tessera reads \(types) configurations")
    }

    /// The sizes under GPT-2's keys (`n_embd`, …).
    func gpt2Keys(_ family: ModelFamily) throws -> TransformerConfig {
        let activation = json["activation_function"]?.string ?? "gelu_new"
        guard ["gelu_new", "gelu_pytorch_tanh"].contains(activation) else { throw unsupported("activation_function \"\(activation)\"") }
        let hidden = try int("n_embd")
        return TransformerConfig(
            family: family, vocabularySize: try int("vocab_size"), contextLength: try int("n_positions"), hiddenSize: hidden,
            layers: try int("n_layer"), heads: try int("n_head"), intermediateSize: try int("n_inner", default: 4 * hidden),
            epsilon: try float("layer_norm_epsilon", default: 1e-5))
    }

    /// The sizes under Llama's keys (`hidden_size`, …), shared by the families that copy its layout.
    func llamaKeys(_ family: ModelFamily) throws -> TransformerConfig {
        let activation = json["hidden_act"]?.string ?? "silu"
        guard activation == "silu" else { throw unsupported("hidden_act \"\(activation)\"") }
        if let scaling = json["rope_scaling"], !scaling.isNull { throw unsupported("rope_scaling") }
        let parameters = json["rope_parameters"]
        if let kind = parameters?["rope_type"]?.string, kind != "default" { throw unsupported("rope_type \"\(kind)\"") }
        let theta = try float("rope_theta", in: parameters, default: try float("rope_theta", default: 10_000))
        let hidden = try int("hidden_size"), heads = try int("num_attention_heads")
        var config = TransformerConfig(
            family: family, vocabularySize: try int("vocab_size"), contextLength: try int("max_position_embeddings"),
            hiddenSize: hidden, layers: try int("num_hidden_layers"), heads: heads,
            kvHeads: try int("num_key_value_heads", default: heads), intermediateSize: try int("intermediate_size"),
            ropeTheta: theta, epsilon: try float("rms_norm_eps", default: 1e-6))
        config.attention.headDim = try int("head_dim", default: hidden / max(1, heads))
        return config
    }
}
