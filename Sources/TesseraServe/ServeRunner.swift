import Foundation
import TesseraCollectives
import TesseraModels
import TesseraParallel
import TesseraTensor
import TesseraTrain

/// Runs `tessera serve`: the model's ranks on their threads (or MPI processes) and, on rank 0's process, the HTTP
/// front end. Rank 0 runs the scheduler; the other ranks follow its plans.
public struct ServeRunner: Sendable {
    public var location: ModelLocation
    /// The model's split (tp × pp); every rank runs every step's plan.
    public var parallel: ParallelConfig
    /// Starts the ranks: threads here, or this process as one rank of an `mpirun` job.
    public var launcher: any RankLauncher
    public var launch: LaunchOptions
    public var limits: SchedulerLimits
    public var frontEnd: FrontEndOptions
    /// A shorter context than the model's (`--context`).
    public var contextLimit: Int?
    /// Key/value blocks per rank (`--kv-blocks`; default ``EngineBackend/defaultBlocks(context:maxBatch:)``).
    public var kvBlocks: Int?
    /// How the key/value pool stores rows (`--kv-cache-type`; ``KVBlockPool/cacheTypes``).
    public var kvCacheType: DType = .f32
    /// Longest wait for running requests after a shutdown signal.
    public var drainDeadline: Duration = .seconds(30)

    public init(location: ModelLocation, parallel: ParallelConfig, launcher: any RankLauncher, launch: LaunchOptions,
                limits: SchedulerLimits, frontEnd: FrontEndOptions) {
        self.location = location
        self.parallel = parallel
        self.launcher = launcher
        self.launch = launch
        self.limits = limits
        self.frontEnd = frontEnd
    }

    /// Serves until SIGTERM/SIGINT, then drains. Prints loading progress and a ready line with the URL.
    /// - Throws: model and launch errors (a model that fails to load ends the server).
    public func run() throws {
        let environment = ProcessInfo.processInfo.environment
        if !launcher.hostsAllRanks, let rank = environment["OMPI_COMM_WORLD_RANK"] ?? environment["PMIX_RANK"], rank != "0" {
            try runRanks(state: nil, metrics: nil, url: nil)
            return
        }
        let model = try ServedModel(location: location, name: frontEnd.servedName, contextLimit: contextLimit)
        let state = ServingState(), metrics = ServerMetrics(), url = URLBox()
        let frontEnd = HTTPFrontEnd(options: self.frontEnd, state: state, metrics: metrics) { address in
            url.set(address)
            Self.say("listening on \(address); loading \(location.path) on \(parallel.ranks) rank(s) (tp \(parallel.tp), pp \(parallel.pp))…")
        }
        let engineDone = DispatchSemaphore(value: 0), failure = URLBox()
        let ranks = Thread {
            do {
                try runRanks(state: (state, model), metrics: metrics, url: url)
            } catch {
                failure.set("\(error)")
                Task { await frontEnd.stop() }
            }
            engineDone.signal()
        }
        ranks.start()
        let httpDone = DispatchSemaphore(value: 0), httpFailure = URLBox()
        Task {
            do { try await frontEnd.run() } catch { httpFailure.set("\(error)") }
            httpDone.signal()
        }
        httpDone.wait()
        url.close()
        state.stop()
        if engineDone.wait(timeout: .now() + .seconds(Int(drainDeadline.components.seconds))) == .timedOut {
            throw ServeError.internalFailure("running requests did not finish within \(drainDeadline) of the shutdown")
        }
        if let message = failure.value ?? httpFailure.value { throw ServeError.internalFailure(message) }
        Self.say("shut down")
    }

    /// This process's ranks: each loads its part of the model; rank 0 schedules (and marks `state` ready), the others
    /// follow its plans.
    private func runRanks(state: (ServingState, ServedModel)?, metrics: ServerMetrics?, url: URLBox?) throws {
        let (parallel, location, limits, kvBlocks, context) = (self.parallel, self.location, self.limits, self.kvBlocks, self.contextLimit)
        let cacheType = kvCacheType
        _ = try launcher.run(launch) { world, computeThreads in
            let groups = try Trainer.processGroups(parallel, world: world)
            let local = try EngineBackend(location: location, parallel: parallel, groups: groups, computeThreads: computeThreads,
                                          kvBlocks: kvBlocks, cacheType: cacheType, maxBatch: limits.maxBatch, context: context)
            guard world.rank == 0 else { return try PlanBroadcast.follow(world: world, backend: local) }
            let backend: any DecodeBackend = world.size > 1 ? BroadcastingBackend(local: local, world: world) : local
            let scheduler = Scheduler(backend: backend, limits: limits) { metrics?.record($0) }
            if let (serving, model) = state {
                // The ready line names the bound URL (the system's port for --port 0), so it waits for the socket
                // (`nil`: the front end ended first, and `ready` then shuts the scheduler down).
                let address = url?.wait()
                serving.ready(model: model, scheduler: scheduler)
                guard let address else { return try scheduler.run() }
                let blocks = local.blockUsage, mib = Double(local.poolBytes) / 1_048_576
                Self.say("ready: \(address) serving \(model.name) (context \(model.contextLength), tp \(parallel.tp), pp \(parallel.pp), max batch \(limits.maxBatch), key/value pool \(blocks.total) blocks of \(blocks.blockSize) tokens, \(String(format: "%.0f", mib)) MiB on rank 0)")
            }
            try scheduler.run()
        }
    }

    package static func say(_ line: String) {
        FileHandle.standardError.write(Data("tessera serve: \(line)\n".utf8))
    }
}

/// A string set once from one thread, read or awaited from others.
package final class URLBox: @unchecked Sendable {
    private let condition = NSCondition()
    private var text: String?
    private var closed = false

    package func set(_ value: String) {
        condition.withLock {
            text = value
            condition.broadcast()
        }
    }

    package var value: String? { condition.withLock { text } }

    /// The value once it is set, or `nil` once ``close()`` came first.
    package func wait() -> String? {
        condition.withLock {
            while text == nil, !closed { condition.wait() }
            return text
        }
    }

    /// Wakes every ``wait()`` that has no value yet.
    package func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }
}
