#!/usr/bin/env python3
"""Reference fixtures for TesseraFormats tests, written by the real reference implementations.

Run by hand (not by CI) after `make assets`:
    pip install torch transformers safetensors tokenizers gguf
    python3 scripts/make_tokenizer_fixtures.py
Writes small files into Tests/TesseraFormatsTests/Fixtures/.
"""
import os

import torch
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "TesseraFormatsTests", "Fixtures")


def write_python_safetensors():
    """A safetensors file from the reference writer: float tensors hold arange(n) / 8 (exact in every float
    dtype), the integer tensor arange(n)."""
    def values(n, dtype, shape=None):
        t = (torch.arange(n, dtype=torch.float64) / 8).to(dtype)
        return t.reshape(shape) if shape else t
    tensors = {
        "f32": values(5, torch.float32),
        "f16": values(6, torch.float16),
        "bf16": values(7, torch.bfloat16),
        "i64": torch.arange(4, dtype=torch.int64),
        "f32_3d": values(24, torch.float32, (2, 3, 4)),
    }
    save_file(tensors, os.path.join(FIXTURES, "python.safetensors"), metadata={"format": "pt"})


if __name__ == "__main__":
    os.makedirs(FIXTURES, exist_ok=True)
    write_python_safetensors()
