import Hummingbird
import Logging
import ServiceLifecycle

/// Where and how the HTTP front end listens.
public struct FrontEndOptions: Sendable {
    public var host: String
    /// 0 binds a free port chosen by the system (the URL handed to `onListening` names it).
    public var port: Int
    /// With a key, every API path needs `Authorization: Bearer KEY`.
    public var apiKey: String?
    public var servedName: String

    public init(host: String, port: Int, apiKey: String?, servedName: String) {
        self.host = host
        self.port = port
        self.apiKey = apiKey
        self.servedName = servedName
    }
}

/// The Hummingbird application and the service group that runs it until SIGTERM or SIGINT (then it stops accepting
/// and lets the requests in flight finish).
public final class HTTPFrontEnd: Sendable {
    private let group: ServiceGroup

    /// - Parameter onListening: called with the URL once the socket is bound, with the port actually bound (the
    ///   system's choice for port 0).
    public init(options: FrontEndOptions, state: ServingState, metrics: ServerMetrics,
                onListening: @escaping @Sendable (String) -> Void) {
        var logger = Logger(label: "tessera-serve")
        logger.logLevel = .warning
        let router = Router()
        ServerRoutes<BasicRequestContext>(state: state, metrics: metrics, servedName: options.servedName)
            .add(to: router, apiKey: options.apiKey)
        let (host, port) = (options.host, options.port)
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "tessera"),
                              onServerRunning: { channel in onListening("http://\(host):\(channel.localAddress?.port ?? port)") },
                              logger: logger)
        group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    }

    /// Serves until a signal or ``stop()``.
    public func run() async throws { try await group.run() }

    /// Stops accepting and ends ``run()`` once the requests in flight are answered.
    public func stop() async { await group.triggerGracefulShutdown() }
}
