#!/usr/bin/env bash
# MPI mesh test (make test-mpi): a representative subset of the dp × pp × tp equivalence matrix as mpirun
# processes. Each layout trains 5 steps on one process per rank and must give the losses of the single-device
# run on the threads backend within 1e-5 relative (tp, dp and tied-embedding reductions change only the order
# of fp32 additions; a pipeline alone changes nothing), and the checkpoint it saves must evaluate like the
# single-device one. One layout also writes a trace that must hold every stage. Loopback only.
# Usage: scripts/test-mesh-mpi.sh TESSERA_BINARY "MPIRUN COMMAND…"
set -uo pipefail
tessera=${1:?usage: test-mesh-mpi.sh TESSERA MPIRUN}
mpirun=${2:?usage: test-mesh-mpi.sh TESSERA MPIRUN}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

yes "And God said, Let there be light: and there was light." | head -c 40000 > "$work/text.txt"
common=(--data "$work/text.txt" --seq-len 32 --global-batch-size 8 --micro-batch-size 1 --steps 5
        --lr 3e-3 --warmup-steps 1 --seed 2 --collective-timeout 120)

compare() { python3 "$(dirname "$0")/compare_losses.py" "$1" "$2" "one device" "mpirun"; }

evaluate() {
  timeout 120 "$tessera" eval --model "$1" --data "$work/text.txt" --max-tokens 2000 --backend threads --json 2>&1
}

# config | ranks | layout flags
layouts=(
  "tiny|2|--pp 2 --schedule 1f1b"
  "tiny|4|--dp 2 --pp 2 --schedule zb-h1 --zero-stage 1"
  "demo|4|--pp 2 --tp 2 --schedule interleaved --virtual-stages 2"
  "tiny|8|--dp 2 --pp 2 --tp 2 --sequence-parallel --zero-stage 1 --schedule gpipe"
  "tiny|2|--dp 2 --recompute full"
)
declare -A references
for entry in "${layouts[@]}"; do
  IFS='|' read -r config ranks flags <<<"$entry"
  if [ -z "${references[$config]:-}" ]; then
    if ! out=$(timeout 300 "$tessera" train --config "$config" "${common[@]}" --backend threads --metrics "$work/$config.jsonl" \
               --save "$work/$config-model" 2>&1); then
      echo "FAIL single-device reference ($config):"; echo "$out" | tail -5; exit 1
    fi
    references[$config]=$(evaluate "$work/$config-model")
  fi
  start=$SECONDS
  trace=()
  [ "$ranks" = 8 ] && trace=(--trace "$work/trace.json")
  if ! out=$(timeout 600 $mpirun -np "$ranks" "$tessera" train --config "$config" "${common[@]}" $flags --backend mpi \
             --metrics "$work/mpi.jsonl" --save "$work/mpi-model" "${trace[@]}" 2>&1); then
    echo "FAIL $config $flags under mpirun -np $ranks:"; echo "$out" | tail -5; failures=$((failures + 1)); continue
  fi
  if ! result=$(compare "$work/$config.jsonl" "$work/mpi.jsonl"); then
    echo "FAIL $config $flags: $result"; failures=$((failures + 1)); continue
  fi
  saved=$(evaluate "$work/mpi-model")
  if ! python3 -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); sys.exit(0 if abs(a["loss"]-b["loss"]) <= 1e-4*a["loss"] else 1)' \
       "${references[$config]}" "$saved"; then
    echo "FAIL $config $flags: the saved checkpoint evaluates to $saved, one device's to ${references[$config]}"; failures=$((failures + 1)); continue
  fi
  if [ "$ranks" = 8 ] && ! python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); pids={e["pid"] for e in t["traceEvents"] if e.get("ph")=="X" and e.get("cat")=="forward"}; sys.exit(0 if pids=={0,1} else 1)' "$work/trace.json"; then
    echo "FAIL $config $flags: the merged trace does not hold both stages' forward spans"; failures=$((failures + 1)); continue
  fi
  echo "ok   $config $flags: mpirun -np $ranks matches one device ($((SECONDS - start)) s)"
done

if [ "$failures" -ne 0 ]; then echo "$failures MPI mesh test(s) failed"; exit 1; fi
echo "all MPI mesh tests passed"
