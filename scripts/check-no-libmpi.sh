#!/usr/bin/env bash
# Fails when a binary links libmpi: the core (every target but TesseraMPI and the CLI) must build and run on a
# machine without Open MPI. Usage: scripts/check-no-libmpi.sh BINARY…
set -euo pipefail
for binary in "$@"; do
  if ldd "$binary" | grep -q 'libmpi'; then
    echo "FAIL $binary links libmpi:"; ldd "$binary" | grep 'libmpi'
    exit 1
  fi
  echo "ok   $binary does not link libmpi"
done
