import ArgumentParser
import Foundation
import TesseraBench
import TesseraPlanner

/// `tessera bench plan`: the flags of ``PlanSearchBench``; prints its table.
struct PlanBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Time the layout search (candidate layouts evaluated per second, one thread).")

    @Option(help: "Timed runs after one warm-up run.")
    var runs = 5
    @Option(help: "Also write the results as JSON to this file.")
    var json: String?
    @OptionGroup var catalog: CatalogOptions

    func run() throws {
        let results = try PlanSearchBench.measure(catalog: try catalog.load(), runs: runs)
        print("Layout search, one thread, median of \(runs) runs after a warm-up. Every candidate gets the memory model;")
        print("those that fit also get the time model; the pipeline simulator times the few that could rank (simulated:")
        print("distinct questions). Requirement: 100,000 candidates in under 1 s (100,000/s).")
        print()
        print(PlanText.table(
            header: ["job", "candidates", "fit", "simulated", "median", "candidates/s", "required/s", "ratio"],
            rows: results.map { r in
                [r.job, "\(r.candidates)", "\(r.fitting)", "\(r.simulated)", PlanText.seconds(r.medianSeconds),
                 String(format: "%.0f", r.candidatesPerSecond), String(format: "%.0f", r.required),
                 String(format: "%.1fx", r.ratio)]
            }))
        if let json { try writeJSON(["plan_search": results], to: json) }
    }
}
