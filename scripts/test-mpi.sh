#!/usr/bin/env bash
# MPI tests (make test-mpi): the collective conformance checks as separate processes under mpirun for
# 2..8 ranks, then each fault, which must end the job with its named error (not hang) well within the
# time limit. Loopback only. Usage: scripts/test-mpi.sh TESSERA_BINARY "MPIRUN COMMAND…"
set -uo pipefail
tessera=${1:?usage: test-mpi.sh TESSERA MPIRUN}
mpirun=${2:?usage: test-mpi.sh TESSERA MPIRUN}
failures=0

for ranks in 2 3 4 5 6 7 8; do
  start=$SECONDS
  # No --backend: under mpirun the CLI must pick the MPI launcher by itself (a threads run would pass too,
  # so the line naming the backend and the job's size is required).
  if output=$(timeout 300 $mpirun -np "$ranks" "$tessera" collective-checks --collective-timeout 60 2>&1) \
     && grep -q "collective checks passed on mpi with $ranks ranks" <<<"$output"; then
    echo "ok   conformance checks, mpirun -np $ranks ($((SECONDS - start)) s)"
  else
    echo "FAIL conformance checks, mpirun -np $ranks:"; echo "$output" | grep -v '^\s*$' | head -20
    failures=$((failures + 1))
  fi
done

# fault, ranks, expected message (an extended regular expression)
faults=(
  "timeout|3|world allReduce #1: rank\(s\) 1 did not arrive within 0.5 seconds"
  "throw|2|rank 1 of 2 failed: deliberate failure on rank 1"
  "mismatch|3|world allReduce #1: ranks disagree: rank [02] called allReduce\(sum\) of 64 bytes, rank 1 called barrier"
  "receive|2|world receive\(from: 1, tag: 99\) #0: rank\(s\) 1 did not arrive within 0.5 seconds"
  "subgroup|4|rank 1 of 4 failed: parity allReduce #0: rank\(s\) 1 did not arrive within 0.5 seconds"
)
for entry in "${faults[@]}"; do
  IFS='|' read -r fault ranks expected <<<"$entry"
  start=$SECONDS
  output=$(timeout 60 $mpirun -np "$ranks" "$tessera" collective-checks --collective-timeout 0.5 --fault "$fault" 2>&1)
  status=$?
  elapsed=$((SECONDS - start))
  if [ "$status" -ne 0 ] && [ "$status" -ne 124 ] && grep -Eq "$expected" <<<"$output" && [ "$elapsed" -lt 30 ]; then
    echo "ok   fault '$fault' on $ranks ranks aborted the job with the named error in ${elapsed} s"
  else
    echo "FAIL fault '$fault' on $ranks ranks (exit $status after ${elapsed} s; expected /$expected/):"
    echo "$output" | grep -v '^\s*$' | head -20
    failures=$((failures + 1))
  fi
done

if [ "$failures" -ne 0 ]; then echo "$failures MPI test(s) failed"; exit 1; fi
echo "all MPI tests passed"
