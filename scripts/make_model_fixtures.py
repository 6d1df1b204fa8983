#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures the TesseraModels tests compare against.

Run by hand (not by CI) after `pip install torch==2.13.0+cpu transformers safetensors`:

    python3 scripts/make_model_fixtures.py [Tests/TesseraModelsTests/Fixtures [NAME ...]]

(NAMEs, e.g. `qwen2-tiny`, write only those fixtures; none writes all. qwen2-tiny, mixtral-tiny,
qwen2-moe-tiny and olmoe-tiny were written with transformers 5.25.0.) For a tiny GPT-2 (tied embeddings, vocabulary 61 so it never divides tp), a tiny Llama
with grouped-query attention (4 query heads, 2 key/value heads, untied head) and a tiny Qwen2 (the Llama layout
plus query/key/value biases, here drawn from N(0, 0.5²) because transformers initializes them to zero, which
would leave their forward use untested; tied head) it writes a Hugging Face directory `<name>/` (config.json +
model.safetensors, the initial weights, via save_pretrained) and `<name>/reference.safetensors` with, all as
float32:

  input_ids, targets          [steps, batch, seq]  (one batch per optimizer step; ids as floats)
  logits                      [batch, seq, vocab]  of step 1's batch at the initial weights
  loss                        [1]                  mean cross-entropy of that batch
  grad.<hf name>              gradient of that loss for every parameter
  losses, grad_norms, lrs     [steps]              per AdamW step (grad norm before clipping)
  final.<hf name>             every parameter after the last step

and `<name>/reference.json` with the optimizer and schedule settings.

Three mixture-of-experts models, a tiny Mixtral (4 experts, top-2, renormalized), a tiny Qwen2-MoE (4 experts,
top-2 without renormalizing, a shared expert behind its sigmoid gate, random biases) and a tiny OLMoE (4 experts,
top-2 without renormalizing, RMSNorm over the whole query and key projections with random weights), have `output_router_logits`
on: their loss is transformers' objective, mean cross-entropy + router_aux_loss_coef × load-balancing loss, and
they also store `lm_loss`, `aux_loss` (step 1) and `lm_losses`, `aux_losses` (per step). They run MOE_STEPS steps.
transformers 5 holds each layer's experts fused (`experts.gate_up_proj` [E, 2F, H], `experts.down_proj` [E, H, F]);
gradients and final values are stored under the Hub's per-expert names, the names save_pretrained writes. The schedule is linear warm-up
then cosine decay to a floor, exactly as TesseraNN.LearningRateSchedule defines it (steps from 1).

When models/SmolLM2-135M-Instruct.Q4_1.gguf exists (`make assets`), it also writes `smollm2-135m.safetensors`:
transformers loads the GGUF (dequantizing it and undoing llama.cpp's query/key permutation) and computes, in
float32, the last-position logits of a prompt (`prompt_ids`, `prompt_logits`), a 12-token greedy continuation
(`greedy_ids`) and the mean next-token loss on a fixed text (`text_ids`, `text_loss`).
"""
import json
import math
import os
import sys

import torch
from safetensors.torch import save_file
from safetensors import safe_open
from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, MixtralConfig, MixtralForCausalLM,
                          OlmoeConfig, OlmoeForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen2MoeConfig,
                          Qwen2MoeForCausalLM)

STEPS, BATCH, SEQ = 3, 2, 8
MOE_STEPS = 5
OPTIM = dict(lr=1e-2, min_lr=1e-3, warmup_steps=1, total_steps=STEPS, beta1=0.9, beta2=0.95, eps=1e-8,
             weight_decay=0.1, max_grad_norm=0.5)


def learning_rate(step, o=OPTIM):
    """Linear warm-up, then cosine to the floor (step counts from 1)."""
    if step <= o["warmup_steps"]:
        return o["lr"] * step / o["warmup_steps"]
    span = o["total_steps"] - o["warmup_steps"]
    progress = 1.0 if span <= 0 else min(1.0, (step - o["warmup_steps"]) / span)
    return o["min_lr"] + 0.5 * (1 + math.cos(math.pi * progress)) * (o["lr"] - o["min_lr"])


def models():
    gpt2 = GPT2Config(vocab_size=61, n_positions=16, n_embd=32, n_layer=2, n_head=4, n_inner=64,
                      activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                      layer_norm_epsilon=1e-5, initializer_range=0.02, tie_word_embeddings=True,
                      bos_token_id=0, eos_token_id=0)
    llama = LlamaConfig(vocab_size=61, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16,
                        rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False, hidden_act="silu",
                        initializer_range=0.02, attention_bias=False, mlp_bias=False,
                        bos_token_id=1, eos_token_id=2)
    qwen2 = Qwen2Config(vocab_size=61, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16,
                        rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True, hidden_act="silu",
                        initializer_range=0.02, use_sliding_window=False, bos_token_id=1, eos_token_id=2)
    yield "gpt2-tiny", GPT2LMHeadModel, gpt2, False
    yield "llama-tiny", LlamaForCausalLM, llama, False
    yield "qwen2-tiny", Qwen2ForCausalLM, qwen2, True
    mixtral = MixtralConfig(vocab_size=61, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16,
                            num_local_experts=4, num_experts_per_tok=2, output_router_logits=True,
                            router_aux_loss_coef=0.02, router_jitter_noise=0.0, rms_norm_eps=1e-5,
                            rope_theta=1000000.0, tie_word_embeddings=False, initializer_range=0.02,
                            bos_token_id=1, eos_token_id=2)
    qwen2_moe = Qwen2MoeConfig(vocab_size=61, hidden_size=32, intermediate_size=64, moe_intermediate_size=24,
                               shared_expert_intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
                               num_key_value_heads=2, max_position_embeddings=16, num_experts=4,
                               num_experts_per_tok=2, norm_topk_prob=False, decoder_sparse_step=1,
                               mlp_only_layers=[], output_router_logits=True, router_aux_loss_coef=0.02,
                               rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True,
                               use_sliding_window=False, initializer_range=0.02, bos_token_id=1, eos_token_id=2)
    olmoe = OlmoeConfig(vocab_size=61, hidden_size=32, intermediate_size=24, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16, num_experts=4,
                        num_experts_per_tok=2, norm_topk_prob=False, output_router_logits=True,
                        router_aux_loss_coef=0.02, rms_norm_eps=1e-5, rope_theta=10000.0, clip_qkv=None,
                        tie_word_embeddings=False, initializer_range=0.02, pad_token_id=None, bos_token_id=1,
                        eos_token_id=2)
    yield "mixtral-tiny", MixtralForCausalLM, mixtral, False
    yield "qwen2-moe-tiny", Qwen2MoeForCausalLM, qwen2_moe, True
    yield "olmoe-tiny", OlmoeForCausalLM, olmoe, True


def randomize_biases(model):
    """Draws every bias from N(0, 0.5²), and every query/key norm weight (OLMoE) from N(1, 0.5²), so that a model
    that ignores one, or applies one to the wrong elements, computes different logits."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.normal_(0.0, 0.5)
            elif name.endswith("q_norm.weight") or name.endswith("k_norm.weight"):
                p.normal_(1.0, 0.5)


def parameters(model):
    return dict(model.named_parameters())


def hub_tensors(model, tensors):
    """`tensors` (by transformers 5 parameter name) under the Hub's checkpoint names: fused experts split per
    expert (`gate_up_proj` rows are the gate then the up projection), Mixtral's `mlp` called `block_sparse_moe`."""
    mixtral = model.config.model_type == "mixtral"
    names = {"gate": "w1", "up": "w3", "down": "w2"} if mixtral else {p: p + "_proj" for p in ("gate", "up", "down")}
    out = {}
    for name, t in tensors.items():
        if mixtral:
            name = name.replace(".mlp.", ".block_sparse_moe.")
        if name.endswith("experts.gate_up_proj") or name.endswith("experts.down_proj"):
            prefix = name[: name.rindex("experts.") + len("experts.")]
            for e in range(t.shape[0]):
                if name.endswith("gate_up_proj"):
                    gate, up = t[e].chunk(2, dim=0)
                    out[f"{prefix}{e}.{names['gate']}.weight"] = gate.contiguous()
                    out[f"{prefix}{e}.{names['up']}.weight"] = up.contiguous()
                else:
                    out[f"{prefix}{e}.{names['down']}.weight"] = t[e].contiguous()
        else:
            out[name] = t.contiguous()
    return out


def loss_of(model, ids, targets):
    """Logits, the objective (cross-entropy, plus router_aux_loss_coef × the load-balancing loss when the model
    outputs router logits), the cross-entropy and the load-balancing loss (None for dense models)."""
    output = model(input_ids=ids)
    logits = output.logits
    lm_loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    aux = getattr(output, "aux_loss", None)
    loss = lm_loss if aux is None else lm_loss + model.config.router_aux_loss_coef * aux
    return logits, loss, lm_loss, aux


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "Tests/TesseraModelsTests/Fixtures"
    only = set(sys.argv[2:])
    for name, cls, config, random_biases in models():
        if only and name not in only:
            continue
        torch.manual_seed(1234)
        config._attn_implementation = "eager"
        model = cls(config).float().eval()  # eval: no dropout; gradients still flow
        if random_biases:
            randomize_biases(model)
        directory = os.path.join(out, name)
        os.makedirs(directory, exist_ok=True)
        model.save_pretrained(directory, safe_serialization=True)
        steps = MOE_STEPS if getattr(config, "output_router_logits", False) else STEPS
        generator = torch.Generator().manual_seed(99)
        ids = torch.randint(0, config.vocab_size, (steps, BATCH, SEQ), generator=generator)
        targets = torch.randint(0, config.vocab_size, (steps, BATCH, SEQ), generator=generator)
        saved = os.path.join(directory, "model.safetensors")
        initial = hub_tensors(model, {n: p.detach() for n, p in parameters(model).items()})
        with safe_open(saved, "pt") as f:
            stored = {k: f.get_tensor(k) for k in f.keys()}
        tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
        assert set(initial) - tied == set(stored) - tied, f"Hub names differ: {sorted(set(initial) ^ set(stored))}"
        assert all(torch.equal(initial[k], stored[k]) for k in initial), "hub_tensors must split as save_pretrained does"

        tensors = {"input_ids": ids.float(), "targets": targets.float()}
        logits, loss, lm_loss, aux = loss_of(model, ids[0], targets[0])
        loss.backward()
        tensors["logits"] = logits.detach().contiguous()
        tensors["loss"] = loss.detach().reshape(1)
        if aux is not None:
            tensors["lm_loss"] = lm_loss.detach().reshape(1)
            tensors["aux_loss"] = aux.detach().reshape(1)
        grads = hub_tensors(model, {n: p.grad.detach().clone() for n, p in parameters(model).items()})
        tensors.update({"grad." + n: g for n, g in grads.items()})
        model.zero_grad(set_to_none=True)

        params = parameters(model)
        decay = [p for p in params.values() if p.dim() >= 2]
        no_decay = [p for p in params.values() if p.dim() < 2]
        o = OPTIM
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": o["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
            lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"], foreach=False)
        losses, lm_losses, aux_losses, norms, lrs = [], [], [], [], []
        schedule = dict(OPTIM, total_steps=steps)
        for step in range(1, steps + 1):
            lr = learning_rate(step, schedule)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            _, step_loss, step_lm, step_aux = loss_of(model, ids[step - 1], targets[step - 1])
            step_loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), o["max_grad_norm"])
            optimizer.step()
            losses.append(step_loss.item())
            lm_losses.append(step_lm.item())
            aux_losses.append(0.0 if step_aux is None else step_aux.item())
            norms.append(norm.item())
            lrs.append(lr)
        tensors["losses"] = torch.tensor(losses)
        if aux is not None:
            tensors["lm_losses"] = torch.tensor(lm_losses)
            tensors["aux_losses"] = torch.tensor(aux_losses)
        tensors["grad_norms"] = torch.tensor(norms)
        tensors["lrs"] = torch.tensor(lrs)
        final = hub_tensors(model, {n: p.detach().clone() for n, p in parameters(model).items()})
        tensors.update({"final." + n: t for n, t in final.items()})
        save_file(tensors, os.path.join(directory, "reference.safetensors"))
        with open(os.path.join(directory, "reference.json"), "w") as f:
            json.dump(dict(schedule, steps=steps, batch=BATCH, seq=SEQ, torch=torch.__version__), f, indent=2)
        print(f"{name}: loss {loss.item():.6f}, step losses {losses}, grad norms {norms}")
    if not only:
        smollm2(out)


SMOLLM2_GGUF = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT = "The capital of France is"
TEXT = "In the beginning God created the heaven and the earth. And the earth was without form, and void."


def smollm2(out):
    if not os.path.exists(SMOLLM2_GGUF):
        print(f"skipping SmolLM2: {SMOLLM2_GGUF} is missing (make assets)")
        return
    from transformers import AutoModelForCausalLM, AutoTokenizer
    directory, name = os.path.split(SMOLLM2_GGUF)
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        prompt = torch.tensor([tokenizer.encode(PROMPT)])
        logits = model(input_ids=prompt).logits[0, -1]
        greedy = model.generate(prompt, max_new_tokens=12, do_sample=False)[0, prompt.shape[1]:]
        text = torch.tensor([tokenizer.encode(TEXT)])
        text_logits = model(input_ids=text).logits[0, :-1]
        loss = torch.nn.functional.cross_entropy(text_logits, text[0, 1:])
    save_file({"prompt_ids": prompt[0].float(), "prompt_logits": logits.contiguous(), "greedy_ids": greedy.float(),
               "text_ids": text[0].float(), "text_loss": loss.reshape(1)}, os.path.join(out, "smollm2-135m.safetensors"))
    print(f"SmolLM2: prompt {prompt[0].tolist()} greedy {tokenizer.decode(greedy)!r} text loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
