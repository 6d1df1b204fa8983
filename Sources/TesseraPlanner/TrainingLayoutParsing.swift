import TesseraParallel
import TesseraPipeline

extension TrainingLayout {
    /// Reads a layout written as ``summary`` writes it: `tp8 pp4 dp2 cp2 ep2 mbs1 interleaved(v2)
    /// recompute:selective zero1`, words in any order. tp, pp and dp are required; cp and ep default to 1, etp to tp, the
    /// micro-batch to 1, the schedule to 1F1B when pp > 1, recomputation to full and ZeRO to 0. What the string
    /// does not name (sequence parallelism, FlashAttention, overlaps, the context-parallel exchange, the expert
    /// dispatch, DualPipe, the activation recipe) comes from `profile`; `no-sp`, `no-flash`, `torch-ddp`,
    /// `cp:all-gather`, `dispatch:node-forwarded`, `dualpipe`, `activations:fp8` and `overlap:tp,dp,pp,ep` (any of the
    /// four) override it.
    /// - Throws: ``PlannerError/invalidLayout(text:reason:)`` naming the word it cannot read or the size it lacks.
    public init(summary text: String, profile: SoftwareProfile) throws {
        var sizes: [String: Int] = [:]
        var schedule: PipelineScheduleKind?
        var virtualStages = 1
        var recompute = Recomputation.full
        var flags: Set<String> = []
        var overlap: CommunicationOverlap?
        var dispatch: ExpertDispatch?
        for word in text.lowercased().split(separator: " ").map(String.init) {
            if let kind = PipelineScheduleKind(rawValue: word) {
                schedule = kind
            } else if word == "dualpipe" {
                (schedule, flags) = (.oneForwardOneBackward, flags.union([word]))
            } else if word.hasPrefix("interleaved(v"), word.hasSuffix(")"),
                      let v = Int(word.dropFirst("interleaved(v".count).dropLast()), v >= 1 {
                (schedule, virtualStages) = (.interleaved, v)
            } else if word.hasPrefix("recompute:") {
                guard let kind = Recomputation(rawValue: String(word.dropFirst("recompute:".count))) else {
                    throw PlannerError.invalidLayout(text: text, reason: "has an unknown recomputation in '\(word)' "
                        + "(use " + Recomputation.allCases.map { "recompute:\($0.rawValue)" }.joined(separator: ", ") + ")")
                }
                recompute = kind
            } else if ["no-sp", "no-flash", "torch-ddp", "cp:all-gather", "activations:fp8", "none"].contains(word) {
                flags.insert(word)
            } else if word.hasPrefix("dispatch:") {
                guard let kind = ExpertDispatch(rawValue: String(word.dropFirst("dispatch:".count))) else {
                    throw PlannerError.invalidLayout(text: text, reason: "has an unknown expert dispatch in '\(word)' (use "
                        + ExpertDispatch.allCases.map { "dispatch:\($0.rawValue)" }.joined(separator: " or ") + ")")
                }
                dispatch = kind
            } else if word.hasPrefix("overlap:") {
                let names = Set(word.dropFirst("overlap:".count).split(separator: ",").map(String.init))
                guard names.isSubset(of: ["tp", "dp", "pp", "ep", "none"]) else {
                    throw PlannerError.invalidLayout(text: text, reason: "has an unknown overlap in '\(word)' (use "
                        + "overlap: with any of tp, dp, pp, ep, or overlap:none)")
                }
                overlap = CommunicationOverlap(
                    tensorParallel: names.contains("tp"), dataParallel: names.contains("dp"),
                    pipeline: names.contains("pp"), expertParallel: names.contains("ep"))
            } else if let key = ["mbs", "zero", "etp", "tp", "pp", "dp", "cp", "ep"].first(where: word.hasPrefix),
                      let value = Int(word.dropFirst(key.count)), value >= (key == "zero" ? 0 : 1) {
                sizes[key] = value
            } else {
                throw PlannerError.invalidLayout(text: text, reason: "has a word it cannot read, '\(word)'")
            }
        }
        for key in ["tp", "pp", "dp"] where sizes[key] == nil {
            throw PlannerError.invalidLayout(text: text, reason: "names no \(key) size (e.g. \(key)2)")
        }
        let pp = sizes["pp"]!
        if pp == 1 { schedule = nil } else if schedule == nil { schedule = .oneForwardOneBackward }
        self.init(
            tp: sizes["tp"]!, pp: pp, dp: sizes["dp"]!, cp: sizes["cp"] ?? 1, ep: sizes["ep"] ?? 1,
            microBatchSize: sizes["mbs"] ?? 1, schedule: schedule, virtualStages: virtualStages, recompute: recompute,
            zeroStage: sizes["zero"] ?? 0)
        if let etp = sizes["etp"], etp != tp { expertTensorParallel = etp }
        self = profile.applyingFeatures(to: self)
        if flags.contains("no-sp") { sequenceParallel = false }
        if flags.contains("no-flash") { flashAttention = false }
        if flags.contains("torch-ddp") { torchDDP = true }
        if flags.contains("cp:all-gather") { contextParallelKind = .allGather }
        if flags.contains("dualpipe") { dualPipe = pp > 1 }
        if flags.contains("activations:fp8") { lowPrecisionActivations = true }
        if let overlap { self.overlap = overlap }
        if let dispatch { expertDispatch = dispatch }
    }
}
