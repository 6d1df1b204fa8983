#!/usr/bin/env python3
"""Reference fixtures for TesseraFormats tests, written by the real reference implementations.

Run by hand (not by CI) after `make assets`:
    pip install torch transformers safetensors tokenizers gguf accelerate
    python3 scripts/make_tokenizer_fixtures.py [STEP ...]
Writes small files into Tests/TesseraFormatsTests/Fixtures/; with arguments, only the named steps run
(python_safetensors, quantization, smollm2_tensors, tokenizers).
"""
import json
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
    os.chmod(os.path.join(FIXTURES, "python.safetensors"), 0o644)


def write_quantization_reference():
    """ggml's block formats as gguf-py encodes and decodes them (its numpy port of quantize_row_*_ref and
    dequantize_row_*), for rows of normal values, a zero row, a constant row and a row with exact halves."""
    import gguf
    from gguf import GGMLQuantizationType as T

    rng = np.random.default_rng(5)
    x = np.concatenate([
        (rng.standard_normal((3, 64)) * 3).astype(np.float32),
        np.zeros((1, 64), np.float32),
        np.full((1, 64), -0.75, np.float32),
        (np.arange(64, dtype=np.float32) / 2 - 16).reshape(1, 64),
    ])
    out = {"x": torch.from_numpy(x)}
    for t in (T.Q8_0, T.Q4_0, T.Q4_1):
        q = gguf.quants.quantize(x, t)
        out[t.name.lower()] = torch.from_numpy(np.ascontiguousarray(q))
        out[t.name.lower() + ".dequantized"] = torch.from_numpy(gguf.quants.dequantize(q, t).astype(np.float32))
    path = os.path.join(FIXTURES, "quantization_reference.safetensors")
    save_file(out, path)
    os.chmod(path, 0o644)


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
    os.chmod(os.path.join(FIXTURES, "smollm2_reference.safetensors"), 0o644)


# Texts covering Unicode (accents, CJK, emoji with ZWJ and flags, combining marks, RTL scripts, \p{N} beyond
# ASCII digits), whitespace runs, tabs and newlines, the White_Space edge cases (NBSP, ideographic space, line
# separator, NEL, and U+001C..U+001F which Python's str.isspace accepts but Unicode White_Space does not),
# digits, contractions in both cases, and special-token text.
TEXTS = [
    "Hello world",
    "Once upon a time",
    "  leading spaces and trailing   ",
    "tabs\tand\nnewlines\n\n\nand\r\nwindows line ends\r\n",
    "Numbers: 0 12 345 6789 3.14159 1,000,000 and 2024-01-01 x2y22z222",
    "Contractions: don't won't it's we're they've I'm you'll he'd 'tis O'Neil's DON'T It'S ''s",
    "Unicode: café naïve résumé Ångström façade Œuvre",
    "CJK: 日本語のテキスト 中文文本 한국어 텍스트",
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️",
    "Spaces: a\u00a0b\u3000c\u2028d \x1c\x1f e\u0085f\u200bg",
    "Punctuation!!! ??? ... --- (parens) [brackets] {braces} <tags> @#$%^&*",
    "  \n  \t ",
    "",
    " ",
    "antidisestablishmentarianism supercalifragilisticexpialidocious",
    "Combining: e\u0301 a\u0308 and z\u0337\u0322a\u0335l\u0336g\u0338o\u0334",
    "Math: ∑ ∫ √ ∞ ≠ ≤ ½ ² ³ Ⅻ ① ٣ 𝟘",
    "Arabic: مرحبا بالعالم and Hebrew: שלום",
    "Code: def f(x):\n    return x**2  # comment\n\tpass\n",
    "trailing newline\n",
    "x" * 300 + " " + "ab" * 100,
]


def write_gpt2_fixture():
    """GPT-2 ids from transformers' GPT2TokenizerFast built on the fetched encoder.json / vocab.bpe."""
    from transformers import GPT2TokenizerFast

    tokenizer = GPT2TokenizerFast(vocab=os.path.join(ROOT, "data/gpt2/encoder.json"),
                                  merges=os.path.join(ROOT, "data/gpt2/vocab.bpe"))
    texts = TEXTS + ["<|endoftext|>special in the middle<|endoftext|>", "a<|endoftext|>b <|endoftext|> c"]
    return [case(tokenizer, text) for text in texts]


def case(tokenizer, text):
    ids = tokenizer.encode(text, add_special_tokens=False)
    decoded = tokenizer.decode(ids, clean_up_tokenization_spaces=False)
    return {"text": text, "ids": ids, "decoded": decoded}


def write_smollm2_fixture():
    """SmolLM2 ids from the tokenizer transformers rebuilds from the GGUF file, and its chat template."""
    from transformers import AutoTokenizer

    from tokenizers import pre_tokenizers

    tokenizer = AutoTokenizer.from_pretrained(MODELS, gguf_file=SMOLLM2)
    # transformers rebuilds the pre-tokenizer as a bare ByteLevel step, but the GGUF says tokenizer.ggml.pre =
    # "smollm": llama.cpp splits every \p{N} character off first (llama-vocab.cpp), as the Hub's tokenizer.json
    # does with Digits(individual_digits=True). Restore that step; report the texts where it matters.
    rebuilt = [tokenizer.encode(text, add_special_tokens=False) for text in TEXTS]
    tokenizer.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    for text, ids in zip(TEXTS, rebuilt):
        if ids != tokenizer.encode(text, add_special_tokens=False):
            print(f"smollm2: the Digits step changes the ids of {text!r}")
    texts = TEXTS + ["<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n", "<|endoftext|>x<file_sep>"]
    cases = [case(tokenizer, text) for text in texts]
    chats = []
    for messages, prompt in CONVERSATIONS:
        rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt)
        chats.append({"messages": messages, "add_generation_prompt": prompt, "rendered": rendered,
                      "ids": tokenizer.encode(rendered, add_special_tokens=False)})
    return cases, chats


CONVERSATIONS = [
    ([{"role": "user", "content": "Hello"}], True),
    ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
      {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": " Bye \n"}], False),
]

# Meta-Llama-3-8B-Instruct's chat template (tokenizer_config.json), rendered by transformers' Jinja environment.
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def write_llama3_chat_fixture():
    from transformers.utils.chat_template_utils import render_jinja_template

    chats = []
    for messages, prompt in CONVERSATIONS:
        rendered, _ = render_jinja_template(conversations=[messages], chat_template=LLAMA3_TEMPLATE,
                                            add_generation_prompt=prompt, bos_token="<|begin_of_text|>")
        chats.append({"messages": messages, "add_generation_prompt": prompt, "rendered": rendered[0]})
    return {"template": LLAMA3_TEMPLATE, "bos_token": "<|begin_of_text|>", "chats": chats}


def write_tiny_tokenizer_jsons():
    """Two small byte-level BPE tokenizer.json files trained with Hugging Face `tokenizers`, in the shapes of
    Llama 3 (Split with its regex, ByteLevel without regex, BOS added by TemplateProcessing) and of Qwen 2
    (single-digit regex), each with added special tokens; plus their ids for TEXTS."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    import subprocess

    # The first 200 kB of the King James Bible (Debian package bible-kjv) plus the test texts.
    bible = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], capture_output=True, text=True, check=True).stdout
    corpus = TEXTS * 3 + bible[:200_000].splitlines()
    patterns = {
        "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    }
    result = {}
    for name, pattern in patterns.items():
        tokenizer = Tokenizer(models.BPE(ignore_merges=(name == "llama3")))
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
        tokenizer.decoder = decoders.ByteLevel()
        specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
        trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tokenizer.train_from_iterator(corpus, trainer=trainer)
        if name == "llama3":
            tokenizer.post_processor = processors.TemplateProcessing(
                single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", tokenizer.token_to_id("<|begin_of_text|>"))])
        directory = os.path.join(FIXTURES, f"tiny-{name}")
        os.makedirs(directory, exist_ok=True)
        tokenizer.save(os.path.join(directory, "tokenizer.json"))
        with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
            json.dump({"bos_token": "<|begin_of_text|>", "eos_token": {"content": "<|end_of_text|>"}}, f)
        texts = TEXTS + ["<|begin_of_text|>x<|eot_id|> y"]
        result[name] = {
            "cases": [{"text": t, "ids": tokenizer.encode(t, add_special_tokens=False).ids,
                       "decoded": tokenizer.decode(tokenizer.encode(t, add_special_tokens=False).ids, skip_special_tokens=False)}
                      for t in texts],
            "with_special_tokens": tokenizer.encode("Hello world").ids,
        }
    return result


def write_byte_fallback_tokenizer():
    """A hand-made byte-level BPE whose vocabulary lacks 'Ġ' (the space) but has byte-fallback tokens: Hugging Face
    falls back to the UTF-8 bytes of the byte-level character ('Ġ' is C4 A0), and the ByteLevel decoder spells the
    fallback tokens out literally."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = [c for c in pre_tokenizers.ByteLevel.alphabet() if c != "Ġ"]
    vocab = {c: i for i, c in enumerate(sorted(alphabet))}
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    for merged in ["ab", "abc"]:
        vocab[merged] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab, [("a", "b"), ("ab", "c")], byte_fallback=True))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    directory = os.path.join(FIXTURES, "tiny-bytefallback")
    os.makedirs(directory, exist_ok=True)
    tokenizer.save(os.path.join(directory, "tokenizer.json"))
    texts = ["abc ab a", " x ", "abcabc"]
    return [{"text": t, "ids": tokenizer.encode(t).ids, "decoded": tokenizer.decode(tokenizer.encode(t).ids)}
            for t in texts]


def write_tokenizer_fixtures():
    smollm2_cases, smollm2_chats = write_smollm2_fixture()
    fixture = {
        "gpt2": write_gpt2_fixture(),
        "smollm2": smollm2_cases,
        "smollm2_chats": smollm2_chats,
        "llama3_chat": write_llama3_chat_fixture(),
        "tiny": write_tiny_tokenizer_jsons(),
        "byte_fallback": write_byte_fallback_tokenizer(),
    }
    with open(os.path.join(FIXTURES, "tokenizer_reference.json"), "w") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")


STEPS = {
    "python_safetensors": write_python_safetensors,
    "quantization": write_quantization_reference,
    "smollm2_tensors": write_smollm2_reference_tensors,
    "tokenizers": write_tokenizer_fixtures,
}

if __name__ == "__main__":
    import sys

    os.umask(0o022)
    os.makedirs(FIXTURES, exist_ok=True)
    for step in sys.argv[1:] or STEPS:
        STEPS[step]()
