#!/usr/bin/env bash
# Crash-safety test (make test-mpi): a child `tessera train` that checkpoints every step is killed with SIGKILL at
# random moments (during steps and during saves, synchronous and --checkpoint-async in turn), several times; after each kill the newest complete checkpoint
# must validate (`tessera checkpoint inspect`) and the next run resumes from it. Every step any run reports, and the
# final run's, must equal the uninterrupted run's loss bit for bit (same layout). Bounded: KILLS kills, each at most
# 0.6 s after the child's first step (and at most 60 s after its start). Usage: scripts/test-checkpoint-kill.sh TESSERA_BINARY [KILLS]
set -uo pipefail
tessera=${1:?usage: test-checkpoint-kill.sh TESSERA [KILLS]}
kills=${2:-6}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/checkpoints"

yes "In the beginning God created the heaven and the earth." | head -c 40000 > "$work/text.txt"
common=(--config tiny --data "$work/text.txt" --seq-len 32 --global-batch-size 4 --micro-batch-size 2 --steps 400
        --lr 3e-3 --warmup-steps 1 --seed 2 --tp 2 --backend threads)

if ! out=$(timeout 300 "$tessera" train "${common[@]}" --metrics "$work/reference.jsonl" 2>&1); then
  echo "FAIL uninterrupted run:"; echo "$out" | tail -5; exit 1
fi

# A step-NNNNNNN directory (complete) exists under the root.
has_checkpoint() { compgen -G "$root/step-[0-9][0-9][0-9][0-9][0-9][0-9][0-9]" > /dev/null; }

failures=0
for ((i = 1; i <= kills; i++)); do
  resume=() background=()
  if has_checkpoint; then resume=(--resume "$root"); fi
  # Every other run saves in the background (--checkpoint-async): a kill may land while a snapshot is written.
  if ((i % 2 == 0)); then background=(--checkpoint-async); fi
  "$tessera" train "${common[@]}" --checkpoint-dir "$root" --checkpoint-every 1 --keep-checkpoints 2 "${resume[@]}" "${background[@]}" \
    --metrics "$work/run-$i.jsonl" > "$work/run-$i.log" 2>&1 &
  child=$!
  # Once training runs (a metrics line is out), kill within the next 0.6 s: inside a step or inside a save.
  for ((wait = 0; wait < 600; wait++)); do
    [ -s "$work/run-$i.jsonl" ] || ! kill -0 "$child" 2>/dev/null && break
    sleep 0.1
  done
  sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.3f", 0.6 * r / 32767 }')"
  kill -9 "$child" 2>/dev/null
  wait "$child" 2>/dev/null
  if has_checkpoint; then
    if ! inspect=$("$tessera" checkpoint inspect "$root" 2>&1); then
      echo "FAIL kill $i: the newest checkpoint does not validate: $inspect"; failures=$((failures + 1))
    else
      during=$(compgen -G "$root/*.partial" > /dev/null && echo " (an unfinished save's .partial directory left beside it)")
      echo "ok   kill $i: $(echo "$inspect" | head -1 | sed 's/.*: //') validates after SIGKILL$during"
    fi
  else
    echo "ok   kill $i: killed before the first checkpoint"
  fi
done

# On a fast machine a run may finish before its kill: then the newest checkpoint is the last step and there is
# nothing left to resume.
saved=$("$tessera" checkpoint inspect "$root" 2>/dev/null | head -1 | grep -o 'step [0-9]* of [0-9]*')
touch "$work/final.jsonl"
if [ -n "$saved" ] && [ "$(echo "$saved" | awk '{print $2}')" = "$(echo "$saved" | awk '{print $4}')" ]; then
  echo "ok   final resume: not needed, the runs reached the last step ($saved)"
elif ! out=$(timeout 300 "$tessera" train "${common[@]}" --checkpoint-dir "$root" --checkpoint-every 1 --keep-checkpoints 2 \
           --resume "$root" --metrics "$work/final.jsonl" 2>&1); then
  echo "FAIL final resume:"; echo "$out" | tail -5; failures=$((failures + 1))
fi

# Every loss any run reported (a line cut by the kill is skipped) equals the uninterrupted run's for that step.
if result=$(python3 - "$work/reference.jsonl" "$work"/run-*.jsonl "$work/final.jsonl" <<'PY'
import json, sys
reference = {m["step"]: m["loss"] for m in map(json.loads, open(sys.argv[1]))}
seen, bad = set(), []
for path in sys.argv[2:]:
    for line in open(path):
        try:
            m = json.loads(line)
        except ValueError:
            continue
        seen.add(m["step"])
        if reference.get(m["step"]) != m["loss"]:
            bad.append(f"{path} step {m['step']}: {m['loss']} != {reference.get(m['step'])}")
if max(seen, default=0) != max(reference):
    bad.append(f"no run reached step {max(reference)}")
print("; ".join(bad[:3]) if bad else f"{len(seen)} steps reported across the runs, all bitwise equal, up to step {max(seen)}")
sys.exit(1 if bad else 0)
PY
); then
  echo "ok   losses: $result"
else
  echo "FAIL losses: $result"; failures=$((failures + 1))
fi

if [ "$failures" -ne 0 ]; then echo "$failures checkpoint crash test(s) failed"; exit 1; fi
echo "all checkpoint crash tests passed"
