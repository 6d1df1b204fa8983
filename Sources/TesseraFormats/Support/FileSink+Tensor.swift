import TesseraFiles
import TesseraTensor

extension FileSink {
    /// Writes `tensor`'s elements encoded as `dtype` (ggml block formats need a whole number of blocks).
    mutating func write(_ tensor: Tensor, as dtype: DType) throws {
        #if _endian(little)
        if dtype == .f32 {  // the stored bytes are the memory's: written as they are
            try tensor.withUnsafeBufferPointer { try write(UnsafeRawBufferPointer($0)) }
            return
        }
        #endif
        let chunk = 1 << 16  // elements per encoding pass; a multiple of every block size
        var scratch = [UInt8](repeating: 0, count: try dtype.byteCount(forElements: chunk))
        try tensor.withUnsafeBufferPointer { source in
            var start = 0
            while start < source.count {
                let count = min(chunk, source.count - start)
                let bytes = try dtype.byteCount(forElements: count)
                scratch.withUnsafeMutableBytes {
                    Quantization.encode(UnsafeBufferPointer(rebasing: source[start..<(start + count)]), as: dtype,
                                        into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<bytes]))
                }
                try scratch.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<bytes])) }
                start += count
            }
        }
    }
}
