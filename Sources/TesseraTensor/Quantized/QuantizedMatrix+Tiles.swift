extension QuantizedMatrix {
    /// Rows of `W` dequantized per tile: a tile of Float32 stays within a core's L2 cache (512 KiB).
    static let tileBytes = 512 * 1024

    /// `Y = X Wᵀ` by dequantizing `W` a tile of rows at a time into Float32 and multiplying each tile with
    /// `cblas_sgemm`: the prefill path, where many rows of `X` share each tile. Activations stay Float32, so the
    /// result is the exact product with the dequantized weights up to Float32 rounding; it is not bitwise equal
    /// to ``multiply(rows:pool:path:)``, and the rounding of a row may depend on how many rows `X` has (OpenBLAS
    /// blocks by size), so batched decoding that must be batch-invariant uses ``multiply(rows:pool:path:)``.
    /// Threads are OpenBLAS's (``BLASThreads``); tiles are decoded on the calling thread.
    /// - Parameter rows: `X`, `[n, columns]`.
    /// - Returns: `[n, rows]`.
    /// - Throws: ``TensorError/invalidShape(operation:shape:reason:)`` when `X` is not `[n, columns]`.
    public func multiplyDequantizingTiles(rows x: Tensor) throws -> Tensor {
        guard x.shape.count == 2, x.shape[1] == columns else {
            throw TensorError.invalidShape(
                operation: "QuantizedMatrix.multiplyDequantizingTiles(rows:)", shape: x.shape,
                reason: "expected [n, \(columns)] for a [\(rows), \(columns)] \(dtype) matrix")
        }
        let n = x.shape[0]
        var y = Tensor(shape: [n, rows])
        x.withUnsafeBufferPointer { input in
            y.withUnsafeMutableBufferPointer { output in
                multiplyDequantizingTiles(input.baseAddress!, ldx: columns, rowCount: n, into: output.baseAddress!, ldy: rows)
            }
        }
        return y
    }

    /// ``multiplyDequantizingTiles(rows:)`` on buffers: `rowCount` rows of `x` (`ldx` apart) into `y` (`ldy` apart).
    /// - Precondition: `x` holds `rowCount` rows of `columns` floats, `y` room for `rowCount` rows of `rows`.
    public func multiplyDequantizingTiles(_ x: UnsafePointer<Float>, ldx: Int, rowCount n: Int, into y: UnsafeMutablePointer<Float>, ldy: Int) {
        guard n > 0, rows > 0, columns > 0 else { return }
        let tileRows = max(1, min(rows, Self.tileBytes / (columns * MemoryLayout<Float>.stride)))
        let tile = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * columns)
        defer { tile.deallocate() }
        for start in stride(from: 0, to: rows, by: tileRows) {
            let count = min(tileRows, rows - start)
            decodeRows(start..<start + count, into: tile)
            Kernels.matmul(x, lda: ldx, tile, transposeB: true, into: y + start, ldc: ldy, m: n, n: count, k: columns)
        }
    }
}
