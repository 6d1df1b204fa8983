import CIntrinsics
import Foundation
import Testing
import TesseraTensor

/// The one-activation-row VNNI tiles (quantized_vnni_row.h: sixteen weight rows, four blocks per load) over every
/// shape of a call: whole groups of four blocks and tails of one to three, tiles of sixteen rows and shorter ones,
/// ranges split over pools, and matrices that end at an unreadable page. The vectorized activation quantizer gives
/// the scalar one's bits.
@Suite struct QuantizedRowTileTests {
    static let types: [DType] = [.q8_0, .q4_0, .q4_1]

    /// Columns of 1, 3, 4, 5 and 7 blocks (a lone tail, a whole group, a group and a tail); rows of a short tile, one
    /// tile, a tile and one row, and two tiles and a half; activation rows 1…3 (tiles only) and 5, 7 (after a group of four).
    @Test(arguments: types)
    func everyGroupAndTailFoldsAsThePortablePath(dtype: DType) throws {
        guard QuantizedKernelPath.avx512VNNI.isAvailable else { return }
        for columns in [32, 96, 128, 160, 224] {
            for rows in [1, 16, 17, 40] {
                let w = try QuantizedMatrix(quantizing: Fixtures.tensor([rows, columns], stream: "qr.w.\(dtype).\(rows).\(columns)"), as: dtype)
                for count in [1, 2, 3, 5, 7] {
                    let x = Fixtures.tensor([count, columns], stream: "qr.x.\(count).\(columns)")
                    let portable = try w.multiply(rows: x, path: .portable)
                    for pool in Fixtures.pools {
                        #expect(try w.multiply(rows: x, pool: pool, path: .avx512VNNI) == portable, "\(dtype) [\(rows), \(columns)] R \(count)")
                    }
                }
            }
        }
    }

    /// Each output against the float64 product with the dequantized weights and the 8-bit activations (the tiles'
    /// own arithmetic is exact up to Float32 rounding of the fold, as for the other paths).
    @Test(arguments: types)
    func oneRowIsTheExactProductOnTheQuantizedActivations(dtype: DType) throws {
        guard QuantizedKernelPath.avx512VNNI.isAvailable else { return }
        let w = try QuantizedMatrix(quantizing: Fixtures.tensor([40, 224], stream: "qr.exact.\(dtype)"), as: dtype)
        let x = Fixtures.tensor([224], stream: "qr.exact.x")
        let y = try w.multiply(vector: x, path: .avx512VNNI)
        Comparison.expectClose(y.scalars, QuantizedMatrixTests.reference(w, QuantizedMatrixTests.kernelActivations(x.scalars, dtype: dtype)),
                               tolerance: 1e-6, "\(dtype)")
    }

    /// A matrix whose last byte is the last readable one before a page the process may not read: the tiles' loads
    /// of four blocks at a time stop at the matrix's end (a load past it would crash the test).
    @Test(arguments: types)
    func loadsStopAtTheMatrixEnd(dtype: DType) throws {
        guard QuantizedKernelPath.avx512VNNI.isAvailable else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let source = try QuantizedMatrix(quantizing: Fixtures.tensor([17, 160], stream: "qr.edge.\(dtype)"), as: dtype)
        let mapping = try GuardedBytes(count: source.byteCount, page: page)
        source.withUnsafeBytes { mapping.bytes.copyMemory(from: $0) }
        let w = try QuantizedMatrix(dtype: dtype, rows: 17, columns: 160, borrowing: UnsafeRawBufferPointer(mapping.bytes), owner: mapping)
        let x = Fixtures.tensor([5, 160], stream: "qr.edge.x")
        #expect(try w.multiply(rows: x, path: .avx512VNNI) == source.multiply(rows: x, path: .portable), "\(dtype)")
    }

    /// The AVX-512 quantizer of the activations against the scalar one on blocks with ties at one half, zeros,
    /// subnormals, infinities and NaN.
    @Test func vectorQuantizerGivesTheScalarBits() throws {
        guard tq_has_avx512_vnni() != 0 else { return }
        var values = Fixtures.tensor([32 * 24], stream: "qr.quantize", scale: 3).scalars
        for i in 0..<32 { values[i] = 0 }
        for i in 32..<64 { values[i] = Float(i - 48) / 2 }
        for i in 64..<96 { values[i] = Float.leastNonzeroMagnitude * Float(i - 80) }
        values[100] = .infinity
        values[140] = .nan
        values[170] = -.infinity
        values[171] = .nan
        for i in 192..<224 { values[i] = Float(i - 200) * 127 / 24 }
        var scalar = [tq_q8_32](repeating: tq_q8_32(), count: 24), vector = scalar
        tq_quantize_q8_32(values, Int32(values.count), &scalar)
        tq_quantize_q8_32_avx512(values, Int32(values.count), &vector)
        for b in 0..<24 {
            let a = scalar[b], v = vector[b]
            #expect(a.d.bitPattern == v.d.bitPattern && a.sum == v.sum && withUnsafeBytes(of: a.q) { Array($0) } == withUnsafeBytes(of: v.q) { Array($0) },
                    "block \(b)")
        }
    }
}

/// `count` readable bytes that end where an unreadable page begins (an anonymous mapping, unmapped on release).
private final class GuardedBytes: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer
    private let base: UnsafeMutableRawPointer, length: Int

    init(count: Int, page: Int) throws {
        let readable = (count + page - 1) / page * page
        length = readable + page
        guard let mapped = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), mapped != MAP_FAILED else {
            throw CocoaError(.fileReadUnknown)
        }
        base = mapped
        guard mprotect(base + readable, page, PROT_NONE) == 0 else { throw CocoaError(.fileReadUnknown) }
        bytes = UnsafeMutableRawBufferPointer(start: base + readable - count, count: count)
    }

    deinit { munmap(base, length) }
}
