/// One link class between devices: inside a node (NVLink, PCIe, shared memory) or between nodes (InfiniBand).
///
/// Latencies are per ring step for each of NCCL's protocols, as its tuning model (`hwLat` in
/// src/graph/tuning.cc) gives them: Simple for large messages, LL128 for medium ones (where NCCL enables it: NVLink
/// systems and networks whose NIC sits on the GPU's PCIe switch), LL for small ones.
public struct Link: Codable, Sendable, Equatable {
    /// What the link is, for people ("NVLink 4 via NVSwitch").
    public var kind: String
    /// Bandwidth per device in one direction, GB/s (1e9 bytes per second).
    public var bandwidthGBps: Double
    /// Latency of one step of a ring collective or one point-to-point message for large messages (NCCL's
    /// Simple protocol), microseconds.
    public var latencyMicroseconds: Double
    /// Latency of one ring step for medium messages (NCCL's LL128 protocol, 120 of every 128 bytes payload); nil
    /// when NCCL does not enable LL128 over this link.
    public var mediumMessageLatencyMicroseconds: Double?
    /// Latency of one ring step for small messages (NCCL's low-latency LL protocol, which moves half the
    /// bandwidth); nil means the same as `latencyMicroseconds`.
    public var smallMessageLatencyMicroseconds: Double?

    public init(
        kind: String, bandwidthGBps: Double, latencyMicroseconds: Double, mediumMessageLatencyMicroseconds: Double? = nil,
        smallMessageLatencyMicroseconds: Double? = nil
    ) {
        self.kind = kind
        self.bandwidthGBps = bandwidthGBps
        self.latencyMicroseconds = latencyMicroseconds
        self.mediumMessageLatencyMicroseconds = mediumMessageLatencyMicroseconds
        self.smallMessageLatencyMicroseconds = smallMessageLatencyMicroseconds
    }

    enum CodingKeys: String, CodingKey {
        case kind
        case bandwidthGBps = "bandwidth_gbps"
        case latencyMicroseconds = "latency_us"
        case mediumMessageLatencyMicroseconds = "medium_message_latency_us"
        case smallMessageLatencyMicroseconds = "small_message_latency_us"
    }

    /// Bytes per second.
    public var bytesPerSecond: Double { bandwidthGBps * 1e9 }
    /// Seconds.
    public var latencySeconds: Double { latencyMicroseconds * 1e-6 }
    /// Seconds; nil without LL128.
    public var mediumMessageLatencySeconds: Double? { mediumMessageLatencyMicroseconds.map { $0 * 1e-6 } }
    /// Seconds.
    public var smallMessageLatencySeconds: Double { (smallMessageLatencyMicroseconds ?? latencyMicroseconds) * 1e-6 }
}

/// Where the members of one communication group sit: `size` devices, `perNode` of them in each node they occupy.
///
/// A group inside one node talks over the intra-node link only. A group that spans nodes runs its rings through
/// every node: each ring crosses a node boundary once per step around, and NCCL runs one ring per NIC its local
/// members own, so the bandwidth between nodes is `perNode` NICs' worth, capped by the intra-node link (NCCL's
/// `busBw = nChannels · bwInter`; nccl-tests on 8-GPU nodes with one NIC per GPU reach about 8× a NIC's rate).
public struct DeviceGroup: Sendable, Equatable {
    public var size: Int
    /// Members in each node the group occupies (1 ≤ perNode ≤ size).
    public var perNode: Int
    public var intraNode: Link
    public var interNode: Link

    /// Nodes the group spans.
    public var nodes: Int { (size + perNode - 1) / perNode }
    public var spansNodes: Bool { nodes > 1 }
    /// The link its slowest hop crosses.
    public var link: Link { spansNodes ? interNode : intraNode }
}

/// An accelerator (GPU, or this machine's CPU) and the node it sits in, as stored in a catalog.
///
/// JSON keys are snake_case in human units (`memory_gib`, `memory_bandwidth_gbps`, `peak_tflops`); the computed
/// properties give SI units. `sources` maps each field name to where its number comes from.
public struct Accelerator: Codable, Sendable, Equatable {
    public var name: String
    public var aliases: [String]
    public var description: String
    /// Memory capacity in GiB (2^30 bytes).
    public var memoryGiB: Double
    /// Peak memory bandwidth, GB/s.
    public var memoryBandwidthGBps: Double
    /// Dense peak rate per ``ComputeFormat`` raw value, TFLOP/s (TOP/s for int8).
    public var peakTFLOPS: [String: Double]
    public var intraNode: Link
    public var interNode: Link
    public var devicesPerNode: Int
    /// Fraction of the peak rate that large matrix products reach in a training step; nil means the
    /// planner's documented default (``PlannerConstants/matmulEfficiency``).
    public var computeEfficiency: Double?
    /// Fraction of the peak memory bandwidth that streaming kernels reach; nil means
    /// ``PlannerConstants/memoryBandwidthEfficiency``.
    public var memoryEfficiency: Double?
    /// Streaming multiprocessors (GPUs only): how many tiles of a matrix product run at once, for the tail of its
    /// last wave (``PlannerConstants/matmulTile``). nil: no wave quantization (a CPU's measured rate).
    public var streamingMultiprocessors: Int?
    public var sources: [String: String]

    enum CodingKeys: String, CodingKey {
        case name, aliases, description, sources
        case memoryGiB = "memory_gib"
        case memoryBandwidthGBps = "memory_bandwidth_gbps"
        case peakTFLOPS = "peak_tflops"
        case intraNode = "intra_node"
        case interNode = "inter_node"
        case devicesPerNode = "devices_per_node"
        case computeEfficiency = "compute_efficiency"
        case memoryEfficiency = "memory_efficiency"
        case streamingMultiprocessors = "streaming_multiprocessors"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        aliases = try c.decodeIfPresent([String].self, forKey: .aliases) ?? []
        description = try c.decodeIfPresent(String.self, forKey: .description) ?? name
        memoryGiB = try c.decode(Double.self, forKey: .memoryGiB)
        memoryBandwidthGBps = try c.decode(Double.self, forKey: .memoryBandwidthGBps)
        peakTFLOPS = try c.decode([String: Double].self, forKey: .peakTFLOPS)
        intraNode = try c.decode(Link.self, forKey: .intraNode)
        interNode = try c.decode(Link.self, forKey: .interNode)
        devicesPerNode = try c.decode(Int.self, forKey: .devicesPerNode)
        computeEfficiency = try c.decodeIfPresent(Double.self, forKey: .computeEfficiency)
        memoryEfficiency = try c.decodeIfPresent(Double.self, forKey: .memoryEfficiency)
        streamingMultiprocessors = try c.decodeIfPresent(Int.self, forKey: .streamingMultiprocessors)
        sources = try c.decodeIfPresent([String: String].self, forKey: .sources) ?? [:]
    }

    /// Checks what decoding cannot: positive sizes and rates, known format names.
    /// - Throws: ``PlannerError/invalidConfigField(field:path:reason:)`` naming the field.
    func validate(path: String) throws {
        func positive(_ value: Double, _ field: String) throws {
            guard value > 0, value.isFinite else {
                throw PlannerError.invalidConfigField(
                    field: "\(name).\(field)", path: path, reason: "must be a positive number, got \(value)")
            }
        }
        try positive(memoryGiB, "memory_gib")
        try positive(memoryBandwidthGBps, "memory_bandwidth_gbps")
        try positive(intraNode.bandwidthGBps, "intra_node.bandwidth_gbps")
        try positive(interNode.bandwidthGBps, "inter_node.bandwidth_gbps")
        try positive(Double(devicesPerNode), "devices_per_node")
        if let streamingMultiprocessors { try positive(Double(streamingMultiprocessors), "streaming_multiprocessors") }
        guard peakTFLOPS["fp32"] != nil || peakTFLOPS["bf16"] != nil else {
            throw PlannerError.invalidConfigField(
                field: "\(name).peak_tflops", path: path, reason: "needs at least an fp32 or bf16 rate")
        }
        for (key, value) in peakTFLOPS {
            guard ComputeFormat(rawValue: key) != nil else {
                throw PlannerError.invalidConfigField(
                    field: "\(name).peak_tflops.\(key)", path: path,
                    reason: "is not a format; use one of \(ComputeFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            try positive(value, "peak_tflops.\(key)")
        }
    }

    /// Memory capacity in bytes.
    public var memoryBytes: Double { memoryGiB * 1_073_741_824 }
    /// Peak memory bandwidth in bytes per second.
    public var memoryBytesPerSecond: Double { memoryBandwidthGBps * 1e9 }

    /// Peak FLOP/s in `format`, falling back to wider formats the chip does have (A100 runs FP8 as BF16).
    public func peakFLOPS(_ format: ComputeFormat) -> Double {
        var current: ComputeFormat? = format
        while let f = current {
            if let rate = peakTFLOPS[f.rawValue] { return rate * 1e12 }
            current = f.wider
        }
        return (peakTFLOPS["bf16"] ?? peakTFLOPS["fp32"] ?? 0) * 1e12
    }

    /// The link a group of `size` devices whose members are `stride` ranks apart crosses, with ranks numbered
    /// node by node: inside a node when the block of `size·stride` consecutive ranks that holds the group lies in
    /// one node (it fits and divides the node), otherwise between nodes.
    public func link(groupSize size: Int, stride: Int) -> Link {
        group(size: size, stride: stride).link
    }

    /// The placement of a group of `size` devices whose members are `stride` ranks apart, ranks numbered node by
    /// node: inside one node when the block of `size·stride` consecutive ranks that holds it lies in one node (it
    /// fits and divides the node); `devicesPerNode / stride` members in each of several nodes when the block covers
    /// whole nodes; otherwise some groups straddle a node boundary with one member on one side, and that group's
    /// single NIC sets the pace (`perNode` 1).
    public func group(size: Int, stride: Int) -> DeviceGroup {
        let span = size * stride
        let perNode: Int
        if span <= devicesPerNode && devicesPerNode % span == 0 {
            perNode = size
        } else if span % devicesPerNode == 0 && devicesPerNode % stride == 0 {
            perNode = devicesPerNode / stride
        } else {
            perNode = 1
        }
        return DeviceGroup(size: size, perNode: perNode, intraNode: intraNode, interNode: interNode)
    }
}
