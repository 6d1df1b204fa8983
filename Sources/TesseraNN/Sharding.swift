/// How one rank's local tensor relates to the full (global) Hugging Face tensor.
///
/// Either the whole tensor (`dimension == nil`, replicated), or a split along `dimension` into `parts`
/// pieces of which this rank holds piece `index`. With `blocks > 1` the dimension is first viewed as
/// `blocks` equal blocks and each block is split (GPT-2's fused `c_attn` holds `[q | k | v]` along its
/// output dimension, so a rank takes its heads from each of the three: `blocks = 3`). A `paddedExtent`
/// larger than the global size pads the dimension with zeros so it divides into `parts` (a vocabulary
/// that does not divide by tp); padded elements exist only locally, never in a checkpoint.
///
/// All index math is pure and shared by initialization, checkpoint loading and gathering for saving.
public struct Sharding: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The split dimension, or `nil` when every rank holds the whole tensor.
    public let dimension: Int?
    /// Number of pieces (1 when replicated).
    public let parts: Int
    /// This rank's piece, `0..<parts`.
    public let index: Int
    /// Equal blocks the dimension is viewed as before splitting (1 for a plain split).
    public let blocks: Int
    /// The padded size of `dimension`, or `nil` for no padding.
    public let paddedExtent: Int?

    /// The whole tensor on every rank.
    public static let replicated = Sharding(dimension: nil, parts: 1, index: 0, blocks: 1, paddedExtent: nil)

    /// Piece `index` of `parts` along `dimension`.
    public static func split(dimension: Int, parts: Int, index: Int, blocks: Int = 1, paddedExtent: Int? = nil) -> Sharding {
        precondition(parts >= 1 && index >= 0 && index < parts && blocks >= 1, "invalid split \(index)/\(parts) × \(blocks)")
        return Sharding(dimension: dimension, parts: parts, index: index, blocks: blocks, paddedExtent: paddedExtent)
    }

    private init(dimension: Int?, parts: Int, index: Int, blocks: Int, paddedExtent: Int?) {
        self.dimension = dimension
        self.parts = parts
        self.index = index
        self.blocks = blocks
        self.paddedExtent = paddedExtent
    }

    /// Whether every rank holds the whole tensor.
    public var isReplicated: Bool { dimension == nil }

    public var description: String {
        guard let dimension else { return "replicated" }
        var text = "split(dim \(dimension), \(index)/\(parts)"
        if blocks > 1 { text += ", \(blocks) blocks" }
        if let paddedExtent { text += ", padded to \(paddedExtent)" }
        return text + ")"
    }

    /// The local shape for a global tensor of `shape`.
    public func localShape(ofGlobal shape: [Int]) -> [Int] {
        guard let d = dimension else { return shape }
        var local = shape
        local[d] = extent(of: shape) / parts
        return local
    }

    /// The split dimension's size including padding.
    public func extent(of shape: [Int]) -> Int {
        guard let d = dimension else { return 0 }
        return paddedExtent ?? shape[d]
    }

    /// Whether the split divides the (padded) dimension evenly into `blocks × parts`.
    public func fits(globalShape shape: [Int]) -> Bool {
        guard let d = dimension else { return true }
        guard d >= 0 && d < shape.count else { return false }
        let e = extent(of: shape)
        return e >= shape[d] && e % (blocks * parts) == 0
    }

    /// Calls `body(localOffset, globalOffset, count)` for each maximal run of consecutive elements, in
    /// local order. `globalOffset` is the row-major flat index in the global tensor, or `nil` for padding.
    public func forEachRun(globalShape shape: [Int], _ body: (_ localOffset: Int, _ globalOffset: Int?, _ count: Int) throws -> Void) rethrows {
        guard let d = dimension else {
            try body(0, 0, shape.reduce(1, *))
            return
        }
        let outer = shape[..<d].reduce(1, *), inner = shape[(d + 1)...].reduce(1, *)
        let size = shape[d], padded = extent(of: shape)
        let blockExtent = padded / blocks, piece = blockExtent / parts, localExtent = padded / parts
        for o in 0..<outer {
            for b in 0..<blocks {
                let start = b * blockExtent + index * piece
                let valid = max(0, min(piece, size - start))
                let local = (o * localExtent + b * piece) * inner
                if valid > 0 { try body(local, (o * size + start) * inner, valid * inner) }
                if valid < piece { try body(local + valid * inner, nil, (piece - valid) * inner) }
            }
        }
    }
}
