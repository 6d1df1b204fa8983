#!/usr/bin/env python3
"""llama.cpp's greedy continuations of a few prompts on SmolLM2-135M-Instruct Q4_1, with the top-2 logit margin at each
step, for Tessera's test that its continuation on the quantized path equals llama.cpp's for as long as the margins
allow (Tests/TesseraModelsTests/LlamaCppGreedyTests.swift).

Run by hand (not by CI), after `make assets` and `make bench-generate` (which installs llama-cpp-python):
    .build/venv-llama/bin/python scripts/make_llama_greedy_fixture.py
Writes Tests/TesseraModelsTests/Fixtures/smollm2-llamacpp-greedy.json: for each prompt its token ids (llama.cpp's
tokenizer, BOS as the model's metadata says), the greedy continuation and each step's top-2 margin (largest logit
minus the second largest).
"""
import json
import os

import llama_cpp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(ROOT, "Tests", "TesseraModelsTests", "Fixtures", "smollm2-llamacpp-greedy.json")
PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village,",
    "def fibonacci(n):",
    "The three primary colors are",
]
STEPS = 24


def main():
    llm = llama_cpp.Llama(model_path=MODEL, n_ctx=256, n_threads=2, logits_all=True, verbose=False)
    cases = []
    for prompt in PROMPTS:
        ids = llm.tokenize(prompt.encode(), add_bos=True)
        llm.reset()
        llm.eval(ids)
        tokens, margins = [], []
        for _ in range(STEPS):
            logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
            order = np.argsort(logits)
            token = int(order[-1])
            tokens.append(token)
            margins.append(float(logits[order[-1]] - logits[order[-2]]))
            llm.eval([token])
        cases.append({"prompt": prompt, "prompt_ids": ids, "greedy_ids": tokens, "margins": margins})
    with open(OUT, "w") as f:
        json.dump({"model": os.path.basename(MODEL), "implementation": f"llama-cpp-python {llama_cpp.__version__}",
                   "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
