#!/usr/bin/env bash
# MPI server test (make test-mpi): `tessera serve --backend mpi --tp 2` as two mpirun processes, driven by the official
# openai client (scripts/test_serve.py --mpirun): greedy answers equal `tessera generate --tp 2`'s, concurrent clients
# each get their solo answer, and SIGTERM to rank 0 drains the job, which exits 0. Loopback only; ends within 5 minutes.
# Usage: scripts/test-serve-mpi.sh TESSERA_BINARY "MPIRUN COMMAND…" PYTHON_WITH_OPENAI MODEL_GGUF
set -uo pipefail
tessera=${1:?usage: test-serve-mpi.sh TESSERA MPIRUN PYTHON MODEL}
mpirun=${2:?usage: test-serve-mpi.sh TESSERA MPIRUN PYTHON MODEL}
python=${3:?usage: test-serve-mpi.sh TESSERA MPIRUN PYTHON MODEL}
model=${4:?usage: test-serve-mpi.sh TESSERA MPIRUN PYTHON MODEL}
start=$SECONDS
if ! out=$(timeout 300 "$python" "$(dirname "$0")/test_serve.py" --tessera "$tessera" --model "$model" --mpirun "$mpirun" 2>&1); then
  echo "FAIL serve under mpirun:"; echo "$out" | tail -15; exit 1
fi
echo "$out" | sed 's/^/     /'
echo "ok   serve --backend mpi --tp 2 under mpirun -np 2 ($((SECONDS - start)) s)"
