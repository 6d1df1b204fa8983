#!/usr/bin/env bash
# Regenerates the pipeline pictures and the bubble table of the README's "Pipeline schedules" section.
# Usage: docs/pipeline/make-pictures.sh [path/to/tessera]   (default: .build/release/tessera)
set -euo pipefail
cd "$(dirname "$0")/../.."
TESSERA=${1:-.build/release/tessera}
OUT=docs/pipeline

# p = 4, m = 8, F = 1, B = 1, W = 1 (a whole backward is B + W = 2); interleaved chunks hold half a stage.
"$TESSERA" pipeline simulate --schedule gpipe -p 4 -m 8 --backward-time 1 --weight-time 1 --svg $OUT/gpipe.svg >/dev/null
"$TESSERA" pipeline simulate --schedule 1f1b -p 4 -m 8 --backward-time 1 --weight-time 1 --svg $OUT/1f1b.svg >/dev/null
"$TESSERA" pipeline simulate --schedule interleaved -p 4 -m 8 --virtual-stages 2 \
    --forward-time 0.5 --backward-time 0.5 --weight-time 0.5 --svg $OUT/interleaved.svg >/dev/null
"$TESSERA" pipeline simulate --schedule zb-h1 -p 4 -m 8 --backward-time 1 --weight-time 1 --svg $OUT/zb-h1.svg >/dev/null

echo "| schedule | p | m | v | simulated bubble | published formula | formula value | peak activations per rank |"
echo "|---|---|---|---|---|---|---|---|"
row() {  # schedule p m v formula-text
    local v=$4 scale=1
    [ "$v" -gt 1 ] && scale=$(python3 -c "print(1/$v)")
    "$TESSERA" pipeline simulate --schedule "$1" -p "$2" -m "$3" --virtual-stages "$v" \
        --forward-time "$scale" --backward-time "$scale" --weight-time "$scale" --json |
        python3 -c "
import json, sys
r = json.load(sys.stdin)
print('| $1 | $2 | $3 | $4 | %.4f | $5 | %.4f | %s |' % (r['bubble_fraction'], r['formula_bubble_fraction'],
      ' '.join(map(str, r['peak_activations']))))"
}
row gpipe 4 8 1 '(p−1)/(m+p−1)'
row 1f1b 4 8 1 '(p−1)/(m+p−1)'
row 1f1b 8 32 1 '(p−1)/(m+p−1)'
row interleaved 4 8 2 '(p−1)/(v·m+p−1)'
row interleaved 8 32 3 '(p−1)/(v·m+p−1)'
row zb-h1 4 8 1 '(p−1)(F+B−W) idle per rank'
row zb-h1 8 32 1 '(p−1)(F+B−W) idle per rank'
