#!/usr/bin/env bash
# Checkpoint test under mpirun (make test-mpi): a run saved by two mpirun processes resumes on threads with another
# layout (tp with --checkpoint-async, dp × ep of a mixture of experts, cp), and a run saved on threads resumes as two
# mpirun processes with another layout; the resumed losses equal the uninterrupted run's within 1e-5 relative. Loopback only. Usage: scripts/test-checkpoint-mpi.sh TESSERA "MPIRUN…"
set -uo pipefail
tessera=${1:?usage: test-checkpoint-mpi.sh TESSERA MPIRUN}
mpirun=${2:?usage: test-checkpoint-mpi.sh TESSERA MPIRUN}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

yes "In the beginning God created the heaven and the earth." | head -c 40000 > "$work/text.txt"
common=(--data "$work/text.txt" --seq-len 32 --global-batch-size 4 --steps 6
        --lr 3e-3 --warmup-steps 1 --seed 2 --collective-timeout 60)

# check LABEL SAVE_LAUNCH SAVE_LAYOUT RESUME_LAUNCH RESUME_LAYOUT [CONFIG]: the first run saves after step 3 (and 6),
# the second resumes step 3 and runs steps 4..6; both train CONFIG (default tiny).
check() {
  local label=$1 root="$work/$1" save_launch=$2 save_layout=$3 resume_launch=$4 resume_layout=$5 config=${6:-tiny}
  if ! out=$(timeout 300 $save_launch "$tessera" train --config "$config" "${common[@]}" $save_layout --checkpoint-dir "$root" --checkpoint-every 3 \
             --metrics "$work/$label-saved.jsonl" 2>&1); then
    echo "FAIL $label: saving run:"; echo "$out" | tail -5; failures=$((failures + 1)); return
  fi
  if ! out=$(timeout 300 $resume_launch "$tessera" train --config "$config" "${common[@]}" $resume_layout --resume "$root/step-0000003" \
             --metrics "$work/$label-resumed.jsonl" 2>&1); then
    echo "FAIL $label: resumed run:"; echo "$out" | tail -5; failures=$((failures + 1)); return
  fi
  tail -n 3 "$work/$label-saved.jsonl" > "$work/$label-tail.jsonl"
  if result=$(python3 "$(dirname "$0")/compare_losses.py" "$work/$label-tail.jsonl" "$work/$label-resumed.jsonl" "saved" "resumed" 3); then
    echo "ok   $label: steps 4..6 after the resume equal the uninterrupted run's"
  else
    echo "FAIL $label: $result"; failures=$((failures + 1))
  fi
}

check "mpi-tp2-async-to-threads-pp2" "$mpirun -np 2" "--tp 2 --micro-batch-size 2 --backend mpi --checkpoint-async" \
      "" "--pp 2 --micro-batch-size 1 --backend threads"
check "threads-dp2-zero1-to-mpi-dp2" "" "--dp 2 --zero-stage 1 --micro-batch-size 1 --backend threads" \
      "$mpirun -np 2" "--dp 2 --micro-batch-size 2 --backend mpi"
check "threads-tp2xpp2-to-mpi-dp2-zero1" "" "--tp 2 --pp 2 --micro-batch-size 2 --backend threads" \
      "$mpirun -np 2" "--dp 2 --zero-stage 1 --micro-batch-size 2 --backend mpi"
check "mpi-dp2-ep2-to-threads-ep1" "$mpirun -np 2" "--dp 2 --ep 2 --micro-batch-size 2 --backend mpi" \
      "" "--micro-batch-size 4 --backend threads" tiny-moe
check "mpi-cp2-to-threads-cp1" "$mpirun -np 2" "--cp 2 --micro-batch-size 4 --backend mpi" \
      "" "--micro-batch-size 4 --backend threads"

if [ "$failures" -ne 0 ]; then echo "$failures MPI checkpoint test(s) failed"; exit 1; fi
echo "all MPI checkpoint tests passed"
