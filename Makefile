# Tessera: two commands do all the set-up on a fresh Debian machine.
#   make demo   the main job on the embedded (threads) backend
#   make test   every test: swift test, then the MPI tests under mpirun
SHELL := /bin/bash
SWIFT ?= swift
RELEASE_FLAGS := -c release -Xswiftc -target-cpu -Xswiftc native
TESSERA := .build/release/tessera
APT_PACKAGES := libopenblas-dev libopenmpi-dev openmpi-bin bible-kjv bible-kjv-text pkg-config
# Loopback-only MPI for tests and demos (CI runs as root, hence --allow-run-as-root).
MPIRUN := mpirun --oversubscribe --allow-run-as-root --mca btl self,vader --mca oob_tcp_if_include lo

.PHONY: all deps build demo test test-swift test-mpi bench clean

all: build

# Installs the Debian packages that are missing (as root), or prints the command to run.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing Debian packages; run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

build: deps
	$(SWIFT) build $(RELEASE_FLAGS) --product tessera

demo: build
	$(TESSERA) bench kernels

test: deps
	$(SWIFT) build $(RELEASE_FLAGS) --build-tests
	$(SWIFT) test $(RELEASE_FLAGS) --skip-build
	$(MAKE) test-mpi

# MPI tests: the same binaries, one rank per process under mpirun (added by the collectives work).
test-mpi: build

clean:
	rm -rf .build
