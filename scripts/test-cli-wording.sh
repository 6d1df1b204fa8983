#!/usr/bin/env bash
# The library names settings by their property paths; the CLI words the same errors with its flags. Each bad
# command below must fail, name the flag to change, and leak no library property path.
# Usage: scripts/test-cli-wording.sh path/to/tessera
set -u
tessera=$1
failures=0
expect() { # the text the error must hold, then the command's arguments
  local expected=$1 out
  shift
  if out=$("$tessera" "$@" 2>&1); then
    echo "FAIL tessera $*: accepted"; failures=$((failures + 1)); return
  fi
  if [[ $out != *"$expected"* || $out == *TrainingConfiguration.* || $out == *SamplingOptions.* || $out == *memory.[a-z]* || $out == *TrainingJob.* || $out == *ServingJob.* ]]; then
    echo "FAIL tessera $*: expected \"$expected\", got: $out"; failures=$((failures + 1)); return
  fi
  echo "ok   tessera $*"
}
data=$(mktemp)
trap 'rm -f "$data"' EXIT
echo "a text that is never read: the options are refused first" > "$data"
expect "--lr: -1.0 must be positive" train --data "$data" --lr=-1
expect "--min-lr: 0.5 must lie between 0 and --lr (0.1)" train --data "$data" --lr 0.1 --min-lr 0.5
expect "use --micro-batch-size ∈ {1, 2, 3, 6}" train --data "$data" --global-batch-size 6 --micro-batch-size 4
expect "--checkpoint-every: needs --checkpoint-dir" train --data "$data" --checkpoint-every 5
expect "--zero-stage 3 is invalid" train --data "$data" --zero-stage 3
expect "--top-p: 2.0 must lie in (0, 1]" generate --model "$data" --prompt hi --top-p 2
expect "--kv-cache-type f8 is not a cache type; use one of f32, f16, q8_0" generate --model "$data" --prompt hi --kv-cache-type f8
expect "--kv-cache-type f8 is not a cache type; use one of f32, f16, q8_0" bench generate --no-peer --model "$data" --kv-cache-type f8
expect "--repeats must be at least 1" bench generate --no-peer --model "$data" --repeats 0
# The planner's suggestions when nothing fits name the job's settings; the CLI words them with its flags.
expect "more GPUs: it fits on --gpus " plan train --model llama-3-405b --gpu a100-40gb --gpus 8 --seq-len 4096 \
  --global-batch-size 64
expect "quantization: --quantization fp8" plan serve --model llama-3-70b --gpu h100 --gpus 1 --context 8192 --batch 1
[ "$failures" -eq 0 ] || { echo "$failures CLI wording check(s) failed"; exit 1; }
