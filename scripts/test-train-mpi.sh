#!/usr/bin/env bash
# MPI training test (make test-mpi): `tessera train --tp 2` on the threads backend and as two mpirun processes
# must produce the same losses (with and without sequence parallelism), `eval` under mpirun must match
# threads, and `generate` through the pipeline under mpirun must give the tokens of one stage. Loopback only. Usage: scripts/test-train-mpi.sh TESSERA_BINARY "MPIRUN COMMAND…"
set -uo pipefail
tessera=${1:?usage: test-train-mpi.sh TESSERA MPIRUN}
mpirun=${2:?usage: test-train-mpi.sh TESSERA MPIRUN}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

yes "In the beginning God created the heaven and the earth." | head -c 40000 > "$work/text.txt"
common=(--config tiny --data "$work/text.txt" --seq-len 32 --global-batch-size 4 --micro-batch-size 2 --steps 5
        --lr 3e-3 --warmup-steps 1 --seed 2 --collective-timeout 60)

# Same losses within 1e-5 relative: the two backends may sum a reduction in a different order.
compare() { python3 "$(dirname "$0")/compare_losses.py" "$1" "$2" "threads" "mpi"; }

for sp in "" "--sequence-parallel"; do
  label="tp=2${sp:+ sp}"
  start=$SECONDS
  if ! out=$(timeout 300 "$tessera" train "${common[@]}" --tp 2 $sp --backend threads --metrics "$work/threads.jsonl" 2>&1); then
    echo "FAIL train $label on threads:"; echo "$out" | tail -5; failures=$((failures + 1)); continue
  fi
  if ! out=$(timeout 300 $mpirun -np 2 "$tessera" train "${common[@]}" --tp 2 $sp --backend mpi --metrics "$work/mpi.jsonl" \
             --save "$work/model" 2>&1); then
    echo "FAIL train $label under mpirun -np 2:"; echo "$out" | tail -5; failures=$((failures + 1)); continue
  fi
  if result=$(compare "$work/threads.jsonl" "$work/mpi.jsonl"); then
    echo "ok   train $label: threads and mpirun -np 2 give the same losses ($((SECONDS - start)) s)"
  else
    echo "FAIL train $label: $result"; failures=$((failures + 1))
  fi
done

# The model saved by the MPI run evaluates the same on threads and under mpirun.
threads=$(timeout 120 "$tessera" eval --model "$work/model" --data "$work/text.txt" --max-tokens 2000 --tp 2 --backend threads --json 2>&1)
mpi=$(timeout 120 $mpirun -np 2 "$tessera" eval --model "$work/model" --data "$work/text.txt" --max-tokens 2000 --tp 2 --backend mpi --json 2>&1)
if [ -n "$threads" ] && python3 -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); sys.exit(0 if abs(a["loss"]-b["loss"]) <= 1e-5*a["loss"] and a["tokens"]==b["tokens"] else 1)' "$threads" "$mpi"; then
  echo "ok   eval --tp 2: threads and mpirun -np 2 agree ($threads)"
else
  echo "FAIL eval --tp 2: threads '$threads' / mpi '$mpi'"; failures=$((failures + 1))
fi

# Batched generation through the pipeline (a step's prompts in flight on both stages, hidden states sent between
# processes) gives the tokens of one stage on threads, with pp = 2, tp × pp = 2 × 2 and tp = 3 (6 query heads and 2
# key/value heads over 3 ranks: uneven shares, and an all-reduce of 3, which MPI may sum in another order than threads).
printf 'In the\nAnd God said\nthe earth was without form\nLet there be\n' > "$work/prompts.txt"
token_ids() { python3 -c 'import json,sys; print([json.loads(l)["token_ids"] for l in sys.stdin])'; }
generate=(generate --model "$work/model" --batch-file "$work/prompts.txt" --max-new-tokens 8 --json)
reference=$(timeout 120 "$tessera" "${generate[@]}" --backend threads 2>/dev/null | token_ids)
for layout in "2 --pp 2" "4 --pp 2 --tp 2" "3 --tp 3"; do
  read -r ranks flags <<<"$layout"
  got=$(timeout 120 $mpirun -np "$ranks" "$tessera" "${generate[@]}" $flags --backend mpi 2>/dev/null | token_ids)
  if [ -n "$reference" ] && [ "$got" = "$reference" ]; then
    echo "ok   generate $flags under mpirun -np $ranks: the tokens of one stage"
  else
    echo "FAIL generate $flags under mpirun -np $ranks: '$got', one stage: '$reference'"; failures=$((failures + 1))
  fi
done

# Batch invariance under mpirun with tp = 3: the first prompt alone gives the tokens it gets inside the batch.
head -n 1 "$work/prompts.txt" > "$work/first.txt"
alone=$(timeout 120 $mpirun -np 3 "$tessera" generate --model "$work/model" --batch-file "$work/first.txt" --max-new-tokens 8 --json \
        --tp 3 --backend mpi 2>/dev/null | token_ids)
if [ -n "$reference" ] && [ "$alone" = "$(python3 -c 'import ast,sys; print([ast.literal_eval(sys.argv[1])[0]])' "$reference")" ]; then
  echo "ok   generate --tp 3 under mpirun -np 3: the first prompt alone gets its tokens in the batch"
else
  echo "FAIL generate --tp 3 under mpirun -np 3: the first prompt alone '$alone', in the batch '$reference'"; failures=$((failures + 1))
fi

if [ "$failures" -ne 0 ]; then echo "$failures MPI training test(s) failed"; exit 1; fi
echo "all MPI training tests passed"
