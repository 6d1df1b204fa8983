#!/usr/bin/env python3
"""llama.cpp's side of `tessera bench generate`: prefill and greedy decode timings on a GGUF file, through
llama-cpp-python (its bundled llama.cpp), in a process of its own so that its peak memory is its own.

    python scripts/bench_llama_generate.py --model M.gguf --threads 2 --prompt-tokens 512 --decode-tokens 256 --cache-type f16

The prompt is the same token ids `tessera bench generate` feeds Tessera (id 100 + (7919 i) mod 10000 for position i),
evaluated in one batch; then `--decode-tokens` greedy tokens, one `eval` each. Keys and values are cached as
`--cache-type` (llama.cpp's --cache-type-k/v: f16, its default, f32 or q8_0; a q8_0 value cache needs llama.cpp's flash
attention, which is then turned on). Prints one JSON line:
implementation, prefill and decode seconds and tokens/s, and the peak resident bytes (getrusage's ru_maxrss).
"""
import argparse
import json
import resource
import time

import llama_cpp
import numpy as np


# ggml's type codes of the cache types.
CACHE_TYPES = {"f32": llama_cpp.GGML_TYPE_F32, "f16": llama_cpp.GGML_TYPE_F16, "q8_0": llama_cpp.GGML_TYPE_Q8_0}


def prompt_ids(count):
    return [100 + (7919 * i) % 10000 for i in range(count)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--decode-tokens", type=int, default=256)
    parser.add_argument("--cache-type", choices=sorted(CACHE_TYPES), default="f16")
    args = parser.parse_args()
    cache_type = CACHE_TYPES[args.cache_type]
    context = args.prompt_tokens + args.decode_tokens
    # n_batch spans the whole context: without logits_all, llama-cpp-python keeps n_batch rows of scores and indexes
    # them by position, so a smaller n_batch fails on the first decoded token past it.
    llm = llama_cpp.Llama(model_path=args.model, n_ctx=context, n_batch=context, n_ubatch=args.prompt_tokens,
                          n_threads=args.threads, n_threads_batch=args.threads, logits_all=False, verbose=False,
                          type_k=cache_type, type_v=cache_type, flash_attn=args.cache_type == "q8_0")
    prompt = prompt_ids(args.prompt_tokens)
    start = time.perf_counter()
    llm.eval(prompt)
    token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    prefill = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.decode_tokens):
        llm.eval([token])
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    decode = time.perf_counter() - start
    print(json.dumps({
        "implementation": f"llama.cpp (llama-cpp-python {llama_cpp.__version__})",
        "prompt_tokens": args.prompt_tokens, "prefill_seconds": prefill,
        "prefill_tokens_per_second": args.prompt_tokens / prefill,
        "decoded_tokens": args.decode_tokens, "decode_seconds": decode,
        "decode_tokens_per_second": args.decode_tokens / decode,
        "peak_resident_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    main()
