import Foundation

/// A model known by name: its architecture and the names it answers to.
public struct CatalogModel: Sendable {
    public var name: String
    public var aliases: [String]
    public var architecture: ModelArchitecture
}

/// The accelerators and models the planner knows: the JSON files shipped in `Catalog/`, extended or overridden by
/// user files (same schema; a later entry with the same name replaces an earlier one).
public struct Catalog: Sendable {
    public private(set) var accelerators: [Accelerator] = []
    public private(set) var models: [CatalogModel] = []

    /// An empty catalog (add files with ``add(path:)``).
    public init() {}

    /// The catalog shipped with Tessera (`Sources/TesseraPlanner/Catalog/*.json`).
    /// - Throws: ``PlannerError/unreadableFile(path:reason:)`` when the resource bundle is missing or corrupt.
    public static func bundled() throws -> Catalog {
        guard let directory = Bundle.module.url(forResource: "Catalog", withExtension: nil) else {
            throw PlannerError.unreadableFile(
                path: "Catalog", reason: "the TesseraPlanner resource bundle is missing; rebuild the package")
        }
        var catalog = Catalog()
        try catalog.add(path: directory.path)
        return catalog
    }

    /// Adds every entry of a JSON file, or of every `*.json` file in a directory (in name order).
    ///
    /// A file holds `{"accelerators": [...]}`, `{"models": [...]}` or both; see the shipped files for the schema.
    /// - Throws: ``PlannerError`` naming the file and the field when a file cannot be read or an entry is invalid.
    public mutating func add(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw PlannerError.unreadableFile(path: path, reason: "no such file or directory")
        }
        if isDirectory.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            for name in names.sorted() where name.hasSuffix(".json") {
                try add(path: (path as NSString).appendingPathComponent(name))
            }
            return
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PlannerError.unreadableFile(path: path, reason: "not readable")
        }
        try add(data: data, path: path)
    }

    /// Adds the entries of one catalog file's contents; `path` names it in errors.
    public mutating func add(data: Data, path: String) throws {
        let file: CatalogFile
        do {
            file = try JSONDecoder().decode(CatalogFile.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            let field = (context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")
            throw PlannerError.missingConfigField(field: field, path: path)
        } catch let DecodingError.typeMismatch(_, context) {
            throw PlannerError.invalidConfigField(
                field: context.codingPath.map(\.stringValue).joined(separator: "."), path: path,
                reason: "has the wrong type")
        } catch {
            throw PlannerError.unreadableFile(path: path, reason: "not a catalog file (\(error))")
        }
        guard file.accelerators != nil || file.models != nil else {
            throw PlannerError.unreadableFile(path: path, reason: "has neither \"accelerators\" nor \"models\"")
        }
        for accelerator in file.accelerators ?? [] {
            try accelerator.validate(path: path)
            accelerators.removeAll { $0.name.lowercased() == accelerator.name.lowercased() }
            accelerators.append(accelerator)
        }
        for entry in file.models ?? [] {
            let architecture = try entry.config.architecture(
                name: entry.name, path: "\(path) (model \(entry.name))", source: entry.source ?? path)
            models.removeAll { $0.name.lowercased() == entry.name.lowercased() }
            models.append(CatalogModel(name: entry.name, aliases: entry.aliases ?? [], architecture: architecture))
        }
    }

    /// The accelerator called `name` (or one of its aliases), case-insensitively.
    /// - Throws: ``PlannerError/unknownAccelerator(name:suggestion:known:)`` with the nearest name.
    public func accelerator(named name: String) throws -> Accelerator {
        let key = name.lowercased()
        if let found = accelerators.first(where: { ([$0.name] + $0.aliases).contains { $0.lowercased() == key } }) {
            return found
        }
        let names = accelerators.map(\.name)
        let everyName = accelerators.flatMap { [$0.name] + $0.aliases }
        let suggestion = NearestName.suggestion(for: name, among: everyName).flatMap { near in
            accelerators.first { ([$0.name] + $0.aliases).contains(near) }?.name
        }
        throw PlannerError.unknownAccelerator(name: name, suggestion: suggestion, known: names)
    }

    /// The model called `name` (or an alias); otherwise `name` is read as a path to a Hugging Face `config.json`
    /// (or a directory holding one).
    /// - Throws: ``PlannerError/unknownModel(name:suggestion:known:)`` with the nearest name when it is neither,
    ///   or the config's own errors (missing fields name the field and the file).
    public func model(named name: String) throws -> ModelArchitecture {
        let key = name.lowercased()
        if let found = models.first(where: { ([$0.name] + $0.aliases).contains { $0.lowercased() == key } }) {
            return found.architecture
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: name, isDirectory: &isDirectory) {
            let path = isDirectory.boolValue ? (name as NSString).appendingPathComponent("config.json") : name
            let label = isDirectory.boolValue ? (name as NSString).lastPathComponent
                : ((name as NSString).deletingLastPathComponent as NSString).lastPathComponent
            return try HuggingFaceConfig.load(path: path).architecture(name: label.isEmpty ? name : label, path: path)
        }
        let everyName = models.flatMap { [$0.name] + $0.aliases }
        let suggestion = NearestName.suggestion(for: name, among: everyName).flatMap { near in
            models.first { ([$0.name] + $0.aliases).contains(near) }?.name
        }
        throw PlannerError.unknownModel(name: name, suggestion: suggestion, known: models.map(\.name))
    }
}

/// The on-disk shape of a catalog file.
private struct CatalogFile: Decodable {
    struct ModelEntry: Decodable {
        var name: String
        var aliases: [String]?
        var source: String?
        var config: HuggingFaceConfig
    }

    var accelerators: [Accelerator]?
    var models: [ModelEntry]?
}
