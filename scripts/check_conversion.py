#!/usr/bin/env python3
"""Checks `tessera convert` outputs against transformers (run by hand, not by CI).

    python3 scripts/check_conversion.py hf-vs-gguf OUT_DIR GGUF
        OUT_DIR is `tessera convert GGUF OUT_DIR`: transformers must load it (AutoModelForCausalLM,
        AutoTokenizer) and give the logits transformers computes from GGUF itself (gguf_file=, dequantized),
        and the same token ids on a set of texts.
    python3 scripts/check_conversion.py gguf-vs-hf GGUF HF_DIR
        GGUF is `tessera convert HF_DIR GGUF`: transformers must load it (gguf_file=) and give HF_DIR's logits.
    python3 scripts/check_conversion.py make-gpt2 HF_DIR
        Writes a small random GPT-2 with OpenAI's tokenizer (data/gpt2 from `make assets`) to convert. transformers
        reads a gpt2 GGUF's n_inner and n_positions as their defaults (4·n_embd, 1024), so the model has those.

Prints the largest logit difference relative to the largest logit and exits 1 when it exceeds 1e-4
(or when token ids differ).
"""
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

TEXTS = ["Once upon a time", "Hello, world!  It's 2024 — naïve café 🤖\n\n  spaces", "<|im_start|>user\nhi<|im_end|>"]
TOLERANCE = 1e-4


def load(path, gguf=None):
    if gguf:
        directory, name = os.path.split(os.path.abspath(gguf))
        model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
        try:
            tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
        except Exception as error:  # a GGUF without tokenizer metadata
            print(f"no tokenizer from {gguf}: {error}")
            tokenizer = None
        return model.eval(), tokenizer
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(path) if os.path.exists(os.path.join(path, "tokenizer.json")) else None
    return model, tokenizer


def compare(first, second, vocabulary):
    (model_a, tokenizer_a), (model_b, tokenizer_b) = first, second
    failed = False
    if tokenizer_a and tokenizer_b:
        for text in TEXTS:
            a, b = tokenizer_a.encode(text), tokenizer_b.encode(text)
            if a != b:
                print(f"token ids differ for {text!r}: {a} vs {b}")
                failed = True
    ids = torch.tensor([tokenizer_a.encode(TEXTS[0]) if tokenizer_a else list(range(1, 9))])
    ids = ids.clamp(max=vocabulary - 1)
    with torch.no_grad():
        a, b = model_a(input_ids=ids).logits, model_b(input_ids=ids).logits
    worst = (a - b).abs().max().item() / a.abs().max().item()
    print(f"logits over {ids.shape[1]} positions: largest difference {worst:.2e} of the largest logit")
    return failed or worst > TOLERANCE


def make_gpt2(directory):
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=50257, n_positions=1024, n_embd=64, n_layer=2, n_head=4, bos_token_id=50256,
                        eos_token_id=50256)
    GPT2LMHeadModel(config).save_pretrained(directory)
    for source, name in [("encoder.json", "vocab.json"), ("vocab.bpe", "merges.txt")]:
        with open(os.path.join("data/gpt2", source), "rb") as f, open(os.path.join(directory, name), "wb") as g:
            g.write(f.read())


def main():
    if sys.argv[1:2] == ["make-gpt2"]:
        return make_gpt2(sys.argv[2])
    mode, first, second = sys.argv[1:4]
    if mode == "hf-vs-gguf":
        converted, original = load(first), load(None, gguf=second)
    elif mode == "gguf-vs-hf":
        converted, original = load(None, gguf=first), load(second)
    else:
        sys.exit(__doc__)
    failed = compare(converted, original, original[0].config.vocab_size)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
