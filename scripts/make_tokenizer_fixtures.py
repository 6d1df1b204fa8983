#!/usr/bin/env python3
"""Reference fixtures for TesseraFormats tests, written by the real reference implementations.

Run by hand (not by CI) after `make assets`:
    pip install torch transformers safetensors tokenizers gguf accelerate
    python3 scripts/make_tokenizer_fixtures.py
Writes small files into Tests/TesseraFormatsTests/Fixtures/.
"""
import os

import numpy as np
import torch
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "TesseraFormatsTests", "Fixtures")
MODELS = os.path.join(ROOT, "models")
SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"


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


def write_smollm2_reference_tensors():
    """Slices of SmolLM2's tensors as the references decode them, into smollm2_reference.safetensors:
    `gguf/NAME` from gguf-py's dequantize (llama.cpp's names and row order), `hf/NAME` from transformers'
    GGUF loading (Hugging Face names, rotary permutation undone by transformers)."""
    import gguf
    from transformers import AutoModelForCausalLM

    reader = gguf.GGUFReader(os.path.join(MODELS, SMOLLM2))
    wanted = {"token_embd.weight": (0, 3), "blk.0.attn_q.weight": (0, 4), "blk.0.attn_k.weight": (0, 4),
              "blk.0.attn_norm.weight": None, "blk.29.ffn_down.weight": (570, 576), "output_norm.weight": None}
    out = {}
    for tensor in reader.tensors:
        if tensor.name in wanted:
            values = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
            rows = wanted[tensor.name]
            if rows is not None:
                values = values[rows[0]:rows[1]]
            out["gguf/" + tensor.name] = torch.from_numpy(np.ascontiguousarray(values))
    model = AutoModelForCausalLM.from_pretrained(MODELS, gguf_file=SMOLLM2, dtype=torch.float32)
    state = model.state_dict()
    # Rows of the first two query heads and of the first two key/value heads (head_dim 64), first 32 columns.
    for name in ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight"]:
        out["hf/" + name] = state[name][0:128, 0:32].contiguous()
    out["hf/model.embed_tokens.weight"] = state["model.embed_tokens.weight"][0:3].contiguous()
    save_file(out, os.path.join(FIXTURES, "smollm2_reference.safetensors"))


if __name__ == "__main__":
    os.makedirs(FIXTURES, exist_ok=True)
    write_python_safetensors()
    write_smollm2_reference_tensors()
