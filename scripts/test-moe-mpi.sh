#!/usr/bin/env bash
# MPI expert-parallelism test (make test-mpi): `tessera train --config tiny-moe` (8 experts, top-2, load-balancing
# loss on) with the experts split over ep = 2 processes, alone (--dp 2 --ep 2), with tp = 2 (experts whole, with
# sequence parallelism, and split over tp without and with sequence parallelism), with pp = 2 (router statistics carried between the stages; 4 processes
# each) and with ep carved out of cp = 2, must give the single device's losses (ep = 1) within 1e-5
# relative; so must the tiny Qwen2-MoE fixture (a shared expert with its sigmoid gate, run during the experts'
# non-blocking all-to-all: MPI_Ialltoallv) at dp = 2 × ep = 2 and with tp = 2 and sequence parallelism; and
# `generate --ep 2` under mpirun must print the
# single device's greedy tokens. Loopback only.
# Usage: scripts/test-moe-mpi.sh TESSERA_BINARY "MPIRUN COMMAND…"
set -uo pipefail
tessera=${1:?usage: test-moe-mpi.sh TESSERA MPIRUN}
mpirun=${2:?usage: test-moe-mpi.sh TESSERA MPIRUN}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

yes "In the beginning God created the heaven and the earth." | head -c 40000 > "$work/text.txt"
# The load-balancing loss is a micro-batch's (summed over dp): one device takes the 4 sequences that the 2 data-parallel
# ranks take 2 each of as one micro-batch.
common=(--config tiny-moe --data "$work/text.txt" --seq-len 32 --global-batch-size 4 --steps 5
        --lr 3e-3 --warmup-steps 1 --seed 2 --collective-timeout 60)

if ! out=$(timeout 300 "$tessera" train "${common[@]}" --micro-batch-size 4 --backend threads --metrics "$work/single.jsonl" --save "$work/model" 2>&1); then
  echo "FAIL train tiny-moe on one device:"; echo "$out" | tail -5; exit 1
fi

model=tiny-moe single="$work/single.jsonl"
run() { # label, ranks, flags… (the model's flags in common, its one-device losses in $single)
  local label=$1 ranks=$2; shift 2
  local start=$SECONDS
  if ! out=$(timeout 300 $mpirun -np "$ranks" "$tessera" train "${common[@]}" "$@" --backend mpi --metrics "$work/mpi.jsonl" 2>&1); then
    echo "FAIL train $label under mpirun -np $ranks:"; echo "$out" | tail -5; failures=$((failures + 1)); return
  fi
  if ! result=$(python3 "$(dirname "$0")/compare_losses.py" "$single" "$work/mpi.jsonl" "ep=1" "$label"); then
    echo "FAIL train $label: $result"; failures=$((failures + 1)); return
  fi
  echo "ok   train $model $label: mpirun -np $ranks gives ep=1's losses ($((SECONDS - start)) s)"
}

run "dp=2 ep=2" 2 --dp 2 --ep 2 --micro-batch-size 2
run "dp=2 ep=2 tp=2" 4 --dp 2 --ep 2 --tp 2 --micro-batch-size 2
run "pp=2 ep=2 dp=2" 4 --dp 2 --ep 2 --pp 2 --micro-batch-size 2
run "dp=2 ep=2 tp=2 sp" 4 --dp 2 --ep 2 --tp 2 --sequence-parallel --micro-batch-size 2
run "dp=2 ep=2 tp=2 expert-tp=tp" 4 --dp 2 --ep 2 --tp 2 --expert-tp tp --micro-batch-size 2
run "dp=2 ep=2 tp=2 sp expert-tp=tp" 4 --dp 2 --ep 2 --tp 2 --sequence-parallel --expert-tp tp --micro-batch-size 2
run "cp=2 ep=2" 2 --cp 2 --ep 2 --micro-batch-size 4

# The Qwen2-MoE fixture's vocabulary has 61 ids, so its text is bytes below 61 (digits and punctuation).
python3 -c "import random; random.seed(1); print(''.join(random.choice('0123456789 ,.;:-+') for _ in range(40000)))" > "$work/digits.txt"
model=qwen2-moe-tiny single="$work/qwen2-single.jsonl"
common=(--config "$(dirname "$0")/../Tests/TesseraModelsTests/Fixtures/qwen2-moe-tiny/config.json" --data "$work/digits.txt"
        --seq-len 16 --global-batch-size 4 --steps 5 --lr 3e-3 --warmup-steps 1 --seed 2 --collective-timeout 60)
if ! out=$(timeout 300 "$tessera" train "${common[@]}" --micro-batch-size 4 --backend threads --metrics "$single" 2>&1); then
  echo "FAIL train qwen2-moe-tiny on one device:"; echo "$out" | tail -5; exit 1
fi
run "dp=2 ep=2 (shared expert overlapped)" 2 --dp 2 --ep 2 --micro-batch-size 2
run "dp=2 ep=2 tp=2 sp (shared expert overlapped)" 4 --dp 2 --ep 2 --tp 2 --sequence-parallel --micro-batch-size 2

generate=(generate --model "$work/model" --prompt "In the beginning" --max-new-tokens 12 --json)
single=$(timeout 120 "$tessera" "${generate[@]}" --backend threads 2>/dev/null)
mpi=$(timeout 120 $mpirun -np 2 "$tessera" "${generate[@]}" --ep 2 --backend mpi 2>/dev/null)
if [ -n "$single" ] && python3 -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); sys.exit(0 if a["token_ids"]==b["token_ids"] else 1)' "$single" "$mpi"; then
  echo "ok   generate --ep 2: mpirun -np 2 prints one device's greedy tokens"
else
  echo "FAIL generate --ep 2: one device '$single' / mpi '$mpi'"; failures=$((failures + 1))
fi

if [ "$failures" -ne 0 ]; then echo "$failures MPI expert-parallel test(s) failed"; exit 1; fi
echo "all MPI expert-parallel tests passed"
