#!/usr/bin/env python3
"""Benchmark results as JSON files, and the markdown tables in docs/ made from them.

    scripts/bench_tables.py record [--results DIR] [--note TEXT] -- tessera bench KIND [FLAGS...]
        runs the bench with `--json` added, passes its table through, and saves the bench's JSON wrapped with the
        date (UTC), the machine and the command line as DIR/DATE-KIND.json (DIR: bench/results).
    scripts/bench_tables.py render [--results DIR] [--out FILE]
        reads every DIR/*.json and writes FILE (docs/bench-results.md): one table per bench, every row with the
        date, machine and command it came from. Never edit FILE by hand; record again and render.

Standard library only.
"""
import argparse
import datetime
import json
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile

KINDS = ["kernels", "collectives", "train", "tp", "mesh", "load", "checkpoint", "tokenize", "plan", "generate"]


def machine_now():
    """'CPU model, N cores' as the benches print it."""
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def bench_kind(command):
    """The word after `bench` in a command line."""
    words = command if isinstance(command, list) else shlex.split(command)
    for i, word in enumerate(words[:-1]):
        if word == "bench" and words[i + 1] in KINDS:
            return words[i + 1]
    raise SystemExit(f"not a tessera bench command: {' '.join(words)}; expected `tessera bench KIND ...` with KIND in {KINDS}")


def record(args):
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    kind = bench_kind(command)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "result.json")
        subprocess.run(command + ["--json", path], check=True)
        result = json.load(open(path, encoding="utf-8"))
    now = datetime.datetime.now(datetime.timezone.utc)
    entry = {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": result.get("machine") if isinstance(result, dict) and "machine" in result else machine_now(),
        "command": shlex.join(["tessera"] + command[command.index("bench"):]),
        "note": args.note,
        "result": result,
    }
    out = pathlib.Path(args.results) / f"{now.strftime('%Y%m%dT%H%M%S')}-{kind}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp_out.replace(out)
    print(f"recorded {out}", file=sys.stderr)


def num(value, digits):
    return "–" if value is None else f"{value:.{digits}f}"


def sec(value):
    """Seconds with three significant digits (tiny checkpoints load in microseconds)."""
    return "–" if value is None else f"{value:.3g}"


def pct(value):
    return "–" if value is None else f"{100 * value:.0f}%"


def size(nbytes):
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if nbytes >= 1 << shift and nbytes % (1 << shift) == 0:
            return f"{nbytes >> shift} {unit}"
    return f"{nbytes} B"


def kernels_rows(r):
    for s in r.get("matmul", []):
        yield ["matmul", f"{s['shape']} {s['layout']}", s["threads"], num(s["gflops"], 1) + " GFLOP/s",
               "cblas_sgemm " + num(s["rawGflops"], 1) + " GFLOP/s", num(s["ratio"], 3) + " (paired)"]
    for s in r.get("elementwise", []):
        yield [f"{s['kernel']} {s['pass']}", s["bytesFormula"], s["threads"], num(s["gigabytesPerSecond"], 1) + " GB/s",
               "triad " + num(s["triadGigabytesPerSecond"], 1) + " GB/s", f"{pct(s['fractionOfTriad'])} (target ≥ {pct(s['target'])})"]
    for s in r.get("attention", []):
        yield [f"attention {s['pass']}", "1024 tokens, 12 heads of 64", s["threads"], num(s["gflops"], 1) + " GFLOP/s",
               "cblas_sgemm " + num(s["sgemmGflops"], 1) + " GFLOP/s", num(s["gflops"] / s["sgemmGflops"], 2)]
    for s in r.get("quantized", []):
        gbs = s["weightBytes"] / s["seconds"] / 1e9
        yield [f"{s['type']} products, batch {s['batch']}", f"{s['shape']} [{s['rows']}, {s['columns']}]", s["threads"], num(gbs, 1) + " GB/s of weights",
               "read bandwidth " + num(s["readGigabytesPerSecond"], 1) + " GB/s", pct(gbs / s["readGigabytesPerSecond"])]


def collectives_rows(r):
    samples = r.get("samples", [])
    def find(backend, op, n, b):
        return next((s for s in samples if s["backend"] == backend and s["operation"] == op and s["ranks"] == n and s["bytes"] == b), None)
    points = sorted({(s["operation"], s["ranks"], s["bytes"]) for s in samples if s["operation"] != "memcpy"})
    for op, n, b in points:
        copy, threads, mpi = find("threads", "memcpy", n, b), find("threads", op, n, b), find("mpi", op, n, b)
        raw = find("raw MPI_Allreduce", op, n, b)
        yield [op, n, size(b), num(copy and copy["algorithmBandwidth"], 2), num(threads and threads["busBandwidth"], 2),
               num(mpi and mpi["busBandwidth"], 2), num(raw and raw["algorithmBandwidth"], 2),
               pct(mpi and mpi.get("pairedRawRatio"))]


def train_rows(r):
    t, d, p = r.get("tessera", {}), r.get("tessera_data_parallel"), r.get("pytorch")
    yield [f"{r['config']} ({r['layers']} layers), {r['batch']} × {r['seq_len']}", r["threads"], num(t.get("tokens_per_second"), 1),
           num(d and d["tokens_per_second"], 1), num(p and p["tokens_per_second"], 1), num(r["sgemm"]["gflops"], 1),
           pct(t.get("fraction_of_sgemm")), num(r.get("best_ratio_tokens_per_second"), 2)]


def tp_rows(r):
    yield [f"{r['config']} ({r['layers']} layers), {r['batch']} × {r['seq_len']}", f"tp={r['tp']}" + (" + sp" if r["sequence_parallel"] else ""),
           num(r["tp1"]["tokens_per_second"], 1), num(r["tpN"]["tokens_per_second"], 1), pct(r["ratio"]),
           "yes" if r["losses_equal"] else "NO"]


def mesh_rows(r):
    d, m = r["data_parallel"], r.get("mesh")
    yield [f"{d['config']}, {d['batch']} × {d['seq_len']}, micro-batch {d['micro_batch_size']}", d["dp"],
           num(d["single"]["tokens_per_second"], 1), num(d["dp_run"]["tokens_per_second"], 1), pct(d["ratio"]),
           pct(d["zero1"]["fraction"]), f"{m['layout']}: MFU {pct(m['mfu'])}" if m else "–"]


def load_rows(r):
    yield [r["model"], r["tensors"], sec(r["open_seconds"]), sec(r["total_seconds"]), sec(r["write_floor_seconds"]),
           sec(r.get("peer_gguf_py_seconds", r.get("peer_ggufpy_seconds")))]


def checkpoint_rows(r):
    floor = r["sequential_write_seconds"]
    yield [f"{r['model']} + AdamW, {r['bytes'] / 1e9:.2f} GB", f"save, tp={r['save_ranks']}", sec(r["save_seconds"]), sec(floor),
           num(r.get("save_ratio", r["save_seconds"] / floor), 2) + "×", "≤ 1.2×"]
    yield [f"{r['model']} + AdamW, {r['bytes'] / 1e9:.2f} GB", f"load onto dp={r['load_ranks']} ZeRO-1, " + ("from disk" if r.get("cold") else "from page cache"), sec(r["load_seconds"]), sec(floor),
           num(r["load_seconds"] / floor, 2) + "×", "≤ 1.5×"]
    if "resume_seconds" in r:
        yield [f"{r['model']} + AdamW, {r['bytes'] / 1e9:.2f} GB", "whole resume (engines built too)", sec(r["resume_seconds"]), sec(floor),
               num(r["resume_seconds"] / floor, 2) + "×", "reported"]
    if "async_pause_seconds" in r:
        step = r["step_seconds"]
        state = f"{r['model']}, tp={r['save_ranks']} steps of 2 × {r['sequence_length']} tokens"
        if "inline_copy_pause_seconds" in r:
            yield [state, "asynchronous save, snapshot copied on the training thread: training held up",
                   sec(r["inline_copy_pause_seconds"]), f"step {sec(step)}", pct(r["inline_copy_pause_seconds"] / step) + " of a step", "reported"]
        yield [state, "asynchronous save" + (", copy overlapping the next step" if "inline_copy_pause_seconds" in r else "") + ": training held up",
               sec(r["async_pause_seconds"]), f"step {sec(step)}", pct(r["async_pause_seconds"] / step) + " of a step", "≤ 10%"]


def tokenize_rows(r):
    yield [f"{r['text']} ({r['bytes']} bytes) with {r['tokenizer']}", r["tokens"], sec(r["seconds"]),
           sec(r["utf8_floor_seconds"]), sec(r.get("peer_hf_tokenizers_seconds"))]


def plan_rows(r):
    for s in r["plan_search"]:
        yield [s["job"], s["candidates"], num(s["median_seconds"], 3), num(s["candidates_per_second"], 0), num(s["ratio"], 1) + "×"]


def generate_rows(r):
    """Per model: batch 1 against llama.cpp (decode, prefill, peak RSS) at each thread count, batch 8 against batch 1
    and tp 2 against tp 1 (2 threads); ratios of medians, then the range of the round-by-round ratios."""
    def ratio(a, b, key, runs_a, runs_b):
        rounds = [x[key] / y[key] for x, y in zip(runs_a, runs_b)]
        return f"{a[key] / b[key]:.2f}× ({min(rounds):.2f}–{max(rounds):.2f}×)"
    for row in r["rows"]:
        model, t = pathlib.Path(row["model"]).name, row["tessera"]
        if row["batch"] == 1 and row["tp"] == 1:  # the baseline: against llama.cpp, or alone with --no-peer
            peer, runs, peers = row.get("llama_cpp"), row["tessera_runs"], row.get("llama_cpp_runs")
            setting = f"{row['threads']} thread(s), batch 1"
            for label, key, scale in [("decode tokens/s", "decode_tokens_per_second", 1), ("prefill tokens/s", "prefill_tokens_per_second", 1),
                                      ("peak RSS MiB", "peak_resident_bytes", 2**20)]:
                yield [model, setting, label, num(t[key] / scale, 1), "llama.cpp " + num(peer[key] / scale, 1) if peer else "–",
                       ratio(t, peer, key, runs, peers) if peer else "–"]
            continue
        base = next((b for b in r["rows"] if b["model"] == row["model"] and b["batch"] == 1 and b["tp"] == 1
                     and b["threads"] == row["threads"] * row["tp"]), None)
        if base is None:
            continue
        key, against = "decode_tokens_per_second", "batch 1" if row["batch"] > 1 else "tp 1"
        setting = f"batch {row['batch']}, {row['threads']} threads" if row["batch"] > 1 else f"tp {row['tp']} × {row['threads']} thread"
        yield [model, setting, "decode tokens/s" + (" (aggregate)" if row["batch"] > 1 else ""), num(t[key], 1),
               f"{against} {num(base['tessera'][key], 1)}", ratio(t, base["tessera"], key, row["tessera_runs"], base["tessera_runs"])]


TABLES = {
    "kernels": ("Kernels against the machine's limits", ["figure", "shape or bytes", "threads", "Tessera", "limit", "ratio"], kernels_rows),
    "collectives": ("Collectives (busbw GB/s; memcpy: GB/s per rank, all copying at once)",
                    ["operation", "ranks", "size", "memcpy", "threads busbw", "MPI busbw", "raw MPI algbw", "MPI/raw (paired)"], collectives_rows),
    "train": ("Training throughput against PyTorch and cblas_sgemm",
              ["shape", "threads", "1 rank tokens/s", "dp tokens/s", "PyTorch tokens/s", "sgemm GFLOP/s", "1 rank % of sgemm", "best / PyTorch"], train_rows),
    "tp": ("Tensor parallelism against one rank with every core",
           ["shape", "layout", "tp=1 tokens/s", "tp=N tokens/s", "ratio", "losses equal"], tp_rows),
    "mesh": ("Data parallelism, ZeRO-1 and a 3D mesh",
             ["shape", "dp", "1 rank tokens/s", "dp tokens/s", "ratio", "ZeRO-1 AdamW bytes / one rank's", "3D mesh"], mesh_rows),
    "load": ("Opening a checkpoint and dequantizing it to Float32 (seconds)",
             ["model", "tensors", "open", "open + dequantize", "floor: write output", "gguf-py + numpy"], load_rows),
    "checkpoint": ("Distributed checkpoints against writing the same bytes with fsync (seconds)",
                   ["state", "operation", "Tessera", "floor", "ratio", "target"], checkpoint_rows),
    "tokenize": ("Byte-level BPE encoding (seconds)", ["text", "tokens", "Tessera", "floor: validate UTF-8", "HF tokenizers"], tokenize_rows),
    "plan": ("Layout search speed (one thread)", ["job", "candidates", "median s", "candidates/s", "of 100,000/s"], plan_rows),
    "generate": ("Generation against llama.cpp (medians over interleaved rounds; ratio of medians, then the rounds' range)",
                 ["model", "setting", "measure", "Tessera", "peer or baseline", "ratio"], generate_rows),
}


def render(args):
    entries = []
    for path in sorted(pathlib.Path(args.results).glob("*.json")):
        entry = json.load(open(path, encoding="utf-8"))
        entries.append((bench_kind(entry["command"]), entry, path.name))
    lines = ["# Benchmark results", "",
             f"Generated by `scripts/bench_tables.py render` from the JSON files in `{args.results}/` (each written by",
             "`scripts/bench_tables.py record -- tessera bench …`); do not edit by hand. Every row names the date, the machine and",
             "the command that produced it; notes recorded with a run follow its table. Hand-measured history: [benchmarks.md](benchmarks.md).",
             ""]
    for kind in KINDS:
        runs = [(e, name) for k, e, name in entries if k == kind]
        if not runs:
            continue
        title, header, rows = TABLES[kind]
        lines += [f"## {title}", "", "| date | machine | command | " + " | ".join(header) + " |",
                  "|---|---|---|" + "---|" * len(header)]
        notes = []
        for entry, name in runs:
            prefix = [entry["date"], entry["machine"], f"`{entry['command']}`"]
            for row in rows(entry["result"]):
                lines.append("| " + " | ".join(str(c) for c in prefix + row) + " |")
            if entry.get("note"):
                notes.append(f"- {entry['date']}, `{entry['command']}`: {entry['note']}")
        lines += [""] + (notes + [""] if notes else [])
    out = pathlib.Path(args.out)
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    tmp.replace(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    rec = sub.add_parser("record", help="run a bench and save its JSON with date, machine and command")
    rec.add_argument("--results", default="bench/results")
    rec.add_argument("--note", default="")
    rec.add_argument("command", nargs=argparse.REMAINDER)
    ren = sub.add_parser("render", help="write the markdown tables from the saved JSON")
    ren.add_argument("--results", default="bench/results")
    ren.add_argument("--out", default="docs/bench-results.md")
    args = parser.parse_args()
    record(args) if args.action == "record" else render(args)


if __name__ == "__main__":
    main()
