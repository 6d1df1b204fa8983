#!/usr/bin/env bash
# MPI context-parallelism test (make test-mpi): `tessera train --cp N` with each context-parallel attention must give
# the single device's losses on the threads backend and as N mpirun processes (cp = 2 alone, cp = 2 with tp = 2 and
# sequence parallelism on 4 processes), and `eval --cp 2` under mpirun must match one device. Loopback only.
# Usage: scripts/test-cp-mpi.sh TESSERA_BINARY "MPIRUN COMMAND…"
set -uo pipefail
tessera=${1:?usage: test-cp-mpi.sh TESSERA MPIRUN}
mpirun=${2:?usage: test-cp-mpi.sh TESSERA MPIRUN}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

yes "In the beginning God created the heaven and the earth." | head -c 40000 > "$work/text.txt"
# 33 tokens per sequence: uneven zig-zag chunks for cp = 2.
common=(--config tiny --data "$work/text.txt" --seq-len 33 --global-batch-size 4 --micro-batch-size 2 --steps 5
        --lr 3e-3 --warmup-steps 1 --seed 2 --collective-timeout 60)
compare() { python3 "$(dirname "$0")/compare_losses.py" "$1" "$2" "$3" "$4"; }

if ! out=$(timeout 300 "$tessera" train "${common[@]}" --backend threads --metrics "$work/single.jsonl" --save "$work/model" 2>&1); then
  echo "FAIL train on one device:"; echo "$out" | tail -5; exit 1
fi

run() { # label, ranks, flags…
  local label=$1 ranks=$2; shift 2
  local start=$SECONDS
  for backend in threads mpi; do
    local launch=() metrics="$work/$backend.jsonl"
    [ "$backend" = mpi ] && launch=($mpirun -np "$ranks")
    if ! out=$(timeout 300 "${launch[@]}" "$tessera" train "${common[@]}" "$@" --backend "$backend" --metrics "$metrics" 2>&1); then
      echo "FAIL train $label on $backend:"; echo "$out" | tail -5; failures=$((failures + 1)); return
    fi
    if ! result=$(compare "$work/single.jsonl" "$metrics" "one device" "$label $backend"); then
      echo "FAIL train $label: $result"; failures=$((failures + 1)); return
    fi
  done
  echo "ok   train $label: one device, threads and mpirun -np $ranks give the same losses ($((SECONDS - start)) s)"
}

for comm in ring allgather a2a; do run "cp=2 $comm" 2 --cp 2 --cp-comm "$comm"; done
run "cp=2 tp=2 sp ring" 4 --cp 2 --tp 2 --sequence-parallel

single=$(timeout 120 "$tessera" eval --model "$work/model" --data "$work/text.txt" --max-tokens 2000 --seq-len 33 --backend threads --json 2>&1)
mpi=$(timeout 120 $mpirun -np 2 "$tessera" eval --model "$work/model" --data "$work/text.txt" --max-tokens 2000 --seq-len 33 --cp 2 --backend mpi --json 2>&1)
if [ -n "$single" ] && python3 -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); sys.exit(0 if abs(a["loss"]-b["loss"]) <= 1e-5*a["loss"] and a["tokens"]==b["tokens"] else 1)' "$single" "$mpi"; then
  echo "ok   eval --cp 2: mpirun -np 2 agrees with one device ($mpi)"
else
  echo "FAIL eval --cp 2: one device '$single' / mpi '$mpi'"; failures=$((failures + 1))
fi

if [ "$failures" -ne 0 ]; then echo "$failures MPI context-parallel test(s) failed"; exit 1; fi
echo "all MPI context-parallel tests passed"
