#!/usr/bin/env python3
"""The PyTorch peer of `tessera bench train`: GPT-2 training steps on the CPU, timed the same way.

Same shape as Tessera's side: GPT-2 small (124M parameters, 12 layers, hidden 768, 12 heads, vocabulary
50257, context 1024) from transformers, fp32, no dropout, a batch of B sequences of T tokens, AdamW with
weight decay on parameters of two or more dimensions, gradient clipping to norm 1. Each step is
zero_grad, forward with loss, backward, clip, optimizer step, each step on a fresh batch of random tokens. Prints one JSON object on the last line of
stdout: median step seconds and tokens/s over the timed steps (after warm-up), every step time, and the
peak resident memory (VmHWM) of this process.

Usage: python3 scripts/bench_pytorch_train.py [--threads 2] [--batch 4] [--seq-len 256] [--warmup 2] [--steps 5]
"""
import argparse
import json
import statistics
import sys
import time


def peak_resident_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--layers", type=int, default=12, help="fewer layers for a quick smoke run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    config = GPT2Config(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=args.layers, n_head=12,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(config).float().train()
    parameters = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
    # A fresh batch of random tokens every step, as Tessera's side trains on (the same batch every step would
    # only memorize it; throughput is the same either way, but the losses then mean the same thing on both sides).
    generator = torch.Generator().manual_seed(args.seed)
    batches = torch.randint(0, config.vocab_size, (args.warmup + args.steps, args.batch, args.seq_len + 1), generator=generator)

    times, losses = [], []
    for step in range(args.warmup + args.steps):
        inputs, targets = batches[step, :, :-1].contiguous(), batches[step, :, 1:].contiguous()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        logits = model(input_ids=inputs).logits
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        elapsed = time.perf_counter() - start
        losses.append(loss.item())
        if step >= args.warmup:
            times.append(elapsed)
        print(f"pytorch step {step + 1}: {elapsed:.3f} s, loss {loss.item():.4f}", file=sys.stderr, flush=True)

    median = statistics.median(times)
    print(json.dumps({
        "implementation": f"PyTorch {torch.__version__} + transformers GPT2LMHeadModel",
        "threads": args.threads, "batch": args.batch, "seq_len": args.seq_len, "layers": args.layers,
        "parameters": parameters, "warmup_steps": args.warmup, "step_seconds": times,
        "median_step_seconds": median, "tokens_per_second": args.batch * args.seq_len / median,
        "losses": losses, "peak_resident_bytes": peak_resident_bytes(),
    }))


if __name__ == "__main__":
    main()
