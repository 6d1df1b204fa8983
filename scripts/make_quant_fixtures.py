#!/usr/bin/env python3
"""Block-decoding fixtures for every weight type Tessera multiplies in place, decoded by gguf-py.

Run by hand (not by CI):
    python3 -m venv /work/venv-quant && /work/venv-quant/bin/pip install gguf numpy
    /work/venv-quant/bin/python scripts/make_quant_fixtures.py
Writes Tests/TesseraFormatsTests/Fixtures/quant_blocks.gguf: for each type T of F32, F16, BF16, Q8_0, Q4_0, Q4_1,
Q5_0, Q4_K, Q6_K a [2, 256] tensor `T` in that type and an F32 tensor `T.dequantized` holding gguf-py's decoding of it
(gguf.quants.dequantize, its numpy port of ggml's dequantize_row_*). The float and 32-blocks types are encoded by
gguf-py from normal values (the F32 tensor is those values, so encoders can be checked too); gguf-py has no k-quant encoder, so Q4_K and Q6_K blocks are random bytes with a finite
Float16 scale, which exercises every bit of the packed scales and values.
"""
import os

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = os.path.join(ROOT, "Tests", "TesseraFormatsTests", "Fixtures", "quant_blocks.gguf")
ROWS, COLUMNS = 2, 256


def random_k_blocks(rng, qtype, scale_offsets):
    """Random blocks of a k-quant type whose Float16 fields at `scale_offsets` hold values in ±[2^-10, 2^-4]."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(ROWS * COLUMNS // block_size, type_size), dtype=np.uint8)
    for offset in scale_offsets:
        halves = (rng.uniform(2.0 ** -10, 2.0 ** -4, size=blocks.shape[0]) * rng.choice([-1, 1], blocks.shape[0]))
        blocks[:, offset:offset + 2] = halves.astype(np.float16).view(np.uint8).reshape(-1, 2)
    return blocks.reshape(ROWS, -1)


def main():
    rng = np.random.default_rng(16)
    x = (rng.standard_normal((ROWS, COLUMNS)) * 2).astype(np.float32)
    stored = {qtype: gguf.quants.quantize(x, qtype) for qtype in (T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0)}
    stored[T.Q4_K] = random_k_blocks(rng, T.Q4_K, (0, 2))  # d, dmin
    stored[T.Q6_K] = random_k_blocks(rng, T.Q6_K, (208,))  # d
    writer = gguf.GGUFWriter(PATH, "tessera-fixture")
    for qtype, data in stored.items():
        raw_dtype = None if qtype in (T.F32, T.F16) else qtype
        writer.add_tensor(qtype.name, data, raw_dtype=raw_dtype)
        decoded = gguf.quants.dequantize(data, qtype).astype(np.float32).reshape(ROWS, COLUMNS)
        writer.add_tensor(qtype.name + ".dequantized", decoded)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.chmod(PATH, 0o644)
    print(f"wrote {PATH} ({os.path.getsize(PATH)} bytes)")


if __name__ == "__main__":
    main()
