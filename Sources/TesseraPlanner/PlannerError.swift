/// Errors the planner throws for bad input. Each message names the problem and how to fix it.
public enum PlannerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A GPU/accelerator name that no catalog holds; `suggestion` is the nearest known name, if any is close.
    case unknownAccelerator(name: String, suggestion: String?, known: [String])
    /// A model name that no catalog holds and that is not a readable file.
    case unknownModel(name: String, suggestion: String?, known: [String])
    /// A Hugging Face `config.json` (or catalog entry) without a field the planner needs.
    case missingConfigField(field: String, path: String)
    /// A config field that is present but unusable (wrong type, zero, inconsistent with another field).
    case invalidConfigField(field: String, path: String, reason: String)
    /// A catalog or config file that cannot be read or parsed.
    case unreadableFile(path: String, reason: String)
    /// A size given on the command line or in a request that no layout can satisfy (e.g. `--gpus 0`).
    case invalidSize(name: String, value: Int, reason: String)
    /// The search found no layout that divides the model and batch evenly; `reasons` counts what ruled them out.
    case noValidLayout(reasons: [String])
    /// A `--framework` name that no ``SoftwareProfile`` has.
    case unknownFramework(name: String, known: [String])
    /// A layout that the chosen software could not run; `reason` says what it lacks.
    case unsupportedLayout(framework: String, layout: String, reason: String)
    /// A layout string (`--explain`) that cannot be read, or that does not fit the job.
    case invalidLayout(text: String, reason: String)

    public var description: String { message(catalogOption: "a catalog file") }

    /// The message, naming how to add a catalog as `catalogOption` (the CLI: `--catalog FILE`).
    public func message(catalogOption: String) -> String {
        switch self {
        case .unknownAccelerator(let name, let suggestion, let known):
            return "unknown GPU '\(name)'" + hint(suggestion) + "; known: \(known.joined(separator: ", "))"
                + " (add your own with \(catalogOption))"
        case .unknownModel(let name, let suggestion, let known):
            return "unknown model '\(name)' (neither a catalog name nor a readable config.json)" + hint(suggestion)
                + "; known: \(known.joined(separator: ", "))"
        case .missingConfigField(let field, let path):
            return "\(path): missing field '\(field)'; add it (see the model's Hugging Face config.json)"
        case .invalidConfigField(let field, let path, let reason):
            return "\(path): field '\(field)' \(reason)"
        case .unreadableFile(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .invalidSize(let name, let value, let reason):
            return "\(name)=\(value) is impossible: \(reason)"
        case .noValidLayout(let reasons):
            return "no parallel layout divides this model and batch evenly: " + reasons.joined(separator: "; ")
        case .unknownFramework(let name, let known):
            return "unknown framework '\(name)'; use one of: \(known.joined(separator: ", ")) (or leave it out for "
                + "everything the planner models)"
        case .unsupportedLayout(let framework, let layout, let reason):
            return "\(framework) cannot run \(layout): \(reason); choose another layout or framework"
        case .invalidLayout(let text, let reason):
            return "layout '\(text)' \(reason); write it as tp8 pp4 dp2 [cp2] [ep2] mbs1 1f1b recompute:selective zero1"
        }
    }

    private func hint(_ suggestion: String?) -> String {
        suggestion.map { "; did you mean '\($0)'?" } ?? ""
    }
}
