#!/usr/bin/env bash
# Regenerates the timeline pictures of real runs in docs/mesh (README: "Timelines of real runs"): short
# training runs of the demo preset with --trace, drawn with `tessera pipeline draw` (the last step). For each
# step after the first (warm-up) it also prints the measured bubble beside the simulator's prediction given
# that step's own measured times (each action's span, sends' posting included, the gaps between actions, and
# the median hand-off as p2p time), the prediction from each rank's mean time per kind of action, and the
# medians over those 7 steps. Run from the repository root after `make build`; the text is any UTF-8 file
# (default: the demo corpus). On a shared machine, run it more than once: single runs move with the load.
set -euo pipefail
tessera=${TESSERA:-.build/release/tessera}
text=${1:-data/bible-kjv.txt}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
common=(--config demo --data "$text" --seq-len 128 --global-batch-size 16 --steps 8 --lr 1e-3)

# The demo's layout: tp=2 × pp=2, 1F1B over 4 micro-batches.
echo "== tp=2 × pp=2, 1f1b"
"$tessera" train "${common[@]}" --tp 2 --pp 2 --schedule 1f1b --micro-batch-size 4 --trace "$work/tp2-pp2.json" >/dev/null
"$tessera" pipeline draw "$work/tp2-pp2.json" --svg docs/mesh/tp2-pp2-1f1b.svg --schedule 1f1b --width 100

# pp=2 × 8 micro-batches under each schedule (interleaved with 2 chunks per stage).
for schedule in gpipe 1f1b interleaved zb-h1; do
  v=1; [ "$schedule" = interleaved ] && v=2
  echo "== pp=2, $schedule"
  "$tessera" train "${common[@]}" --pp 2 --schedule "$schedule" --virtual-stages "$v" --micro-batch-size 2 \
    --trace "$work/pp2-$schedule.json" >/dev/null
  "$tessera" pipeline draw "$work/pp2-$schedule.json" --svg "docs/mesh/pp2-$schedule.svg" --schedule "$schedule" \
    --virtual-stages "$v" --width 100
done
