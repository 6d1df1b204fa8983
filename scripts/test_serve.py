#!/usr/bin/env python3
"""End-to-end tests of `tessera serve` with the official `openai` client, against real servers on loopback ports.

Every endpoint and parameter of the OpenAI API the server implements; streamed text equals non-streamed text; each bad
request gets its status and the server keeps serving; a bounded load test of 32 concurrent clients whose answers each
equal their solo greedy answer (p50/p99 time to first token printed); client disconnects; a bounded fuzz of the request
decoder; a tensor-parallel server (`--tp 3`: SmolLM2's 9 heads) and optionally a pipeline-split one (`--pp 2`);
graceful shutdown on SIGTERM. Every server binds a port of the system's choice (`--port 0`) and is found by the URL
it prints. With `--mpirun`, only the test of `--backend mpi --tp 2` under that launcher (scripts/test-serve-mpi.sh).
Ends by itself; exits non-zero on the first failure.

Usage: test_serve.py --tessera .build/release/tessera --model models/SmolLM2-135M-Instruct.Q4_1.gguf
"""
import argparse
import concurrent.futures
import json
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import openai

from serve_harness import PASSED, PROMPTS, Server, check, expect_status, greedy, percentile, streamed_text, test

@test
def models_health_and_metrics(server):
    client = server.client()
    check([m.id for m in client.models.list().data] == ["smol"], "models list")
    check(client.models.retrieve("smol").id == "smol", "model retrieve")
    check(server.raw("GET", "/health")[0] == 200, "health 200")
    status, body = server.raw("GET", "/metrics")
    text = body.decode()
    for name in ["tessera_requests_total", "tessera_prompt_tokens_total", "tessera_generation_tokens_total",
                 "tessera_queue_depth", "tessera_running_sequences", "tessera_time_to_first_token_seconds",
                 "tessera_inter_token_latency_seconds", "tessera_kv_cache_used_blocks", "tessera_kv_cache_free_blocks",
                 "tessera_step_engine_seconds", "tessera_step_scheduling_seconds"]:
        check(status == 200 and name in text, f"metric {name}")


@test
def greedy_matches_tessera_generate(server, tessera, model, *flags, prompts=PROMPTS[1:2]):
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as batch:
        batch.write("".join(p + "\n" for p in prompts))
        batch.flush()
        out = subprocess.run([tessera, "generate", "--model", model, "--batch-file", batch.name, "--max-new-tokens", "16",
                              "--json", *flags], check=True, capture_output=True, text=True).stdout
    expected = [json.loads(line)["text"] for line in out.strip().splitlines()[-len(prompts):]]
    for prompt, want in zip(prompts, expected):
        got = greedy(server.client(), prompt).choices[0].text
        check(got == want, f"server {got!r} != generate {want!r}")


@test
def completions_parameters(server):
    client = server.client()
    r = greedy(client, PROMPTS[1], max_tokens=8)
    check(r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 8, "max_tokens → length")
    count = json.loads(server.raw("POST", "/tokenize", {"model": "smol", "prompt": PROMPTS[1]})[1])["count"]
    check(r.usage.prompt_tokens == count and r.usage.total_tokens == count + 8, "usage exact")
    # Token-id prompts and lists of prompts give the same answers as text.
    ids = json.loads(server.raw("POST", "/tokenize", {"prompt": PROMPTS[1]})[1])["tokens"]
    check(greedy(client, ids, max_tokens=8).choices[0].text == r.choices[0].text, "token-id prompt")
    many = greedy(client, [PROMPTS[1], PROMPTS[2]], max_tokens=8)
    check([c.index for c in many.choices] == [0, 1] and many.choices[0].text == r.choices[0].text, "list of prompts")
    # echo
    e = greedy(client, PROMPTS[1], max_tokens=8, echo=True)
    check(e.choices[0].text == PROMPTS[1] + r.choices[0].text, "echo")
    # logprobs in the legacy shape; the greedy token is the most likely one.
    lp = greedy(client, PROMPTS[1], max_tokens=4, logprobs=2).choices[0].logprobs
    check(len(lp.tokens) == 4 and len(lp.token_logprobs) == 4 and len(lp.top_logprobs) == 4, "logprobs shape")
    check(all(max(top.values()) <= l + 1e-4 for top, l in zip(lp.top_logprobs, lp.token_logprobs)), "greedy is the top token")
    check("".join(lp.tokens) == greedy(client, PROMPTS[1], max_tokens=4).choices[0].text, "logprob tokens spell the text")
    # Seeded sampling is reproducible; n choices differ in index; penalties are accepted.
    sampled = dict(model="smol", prompt=PROMPTS[1], max_tokens=12, temperature=0.9, top_p=0.95, seed=11, n=3,
                   extra_body={"top_k": 40})
    a, b = client.completions.create(**sampled), client.completions.create(**sampled)
    check([c.text for c in a.choices] == [c.text for c in b.choices], "seeded sampling reproducible")
    check(sorted(c.index for c in a.choices) == [0, 1, 2], "n choices")
    check(len({c.text for c in a.choices}) > 1, "n sampled choices differ")
    p = greedy(client, PROMPTS[2], max_tokens=24, presence_penalty=1.5, frequency_penalty=1.5)
    check(p.choices[0].finish_reason in ("length", "stop"), "penalties")


@test
def echo_with_logprobs(server):
    """OpenAI's echo with logprobs: the prompt's tokens first, each with its log-probability given the tokens before it
    (the first null), then the completion, which is the one without echo; a prompt token's log-probability is the one
    it has as the generated token after the same tokens."""
    client = server.client()
    ids = json.loads(server.raw("POST", "/tokenize", {"prompt": PROMPTS[1]})[1])["tokens"]
    plain = greedy(client, PROMPTS[1], max_tokens=4, logprobs=2)
    r = greedy(client, PROMPTS[1], max_tokens=4, logprobs=2, echo=True)
    lp, want = r.choices[0].logprobs, plain.choices[0].logprobs
    check(r.choices[0].text == PROMPTS[1] + plain.choices[0].text, "echo text")
    check(len(lp.tokens) == len(ids) + 4 and len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset), "echo logprobs shape")
    check(lp.token_logprobs[0] is None and lp.top_logprobs[0] is None, "the first prompt token is unscored")
    check(all(l <= 0 and 0 < len(top) <= 2 and max(top.values()) >= l - 1e-4
              for top, l in zip(lp.top_logprobs[1:], lp.token_logprobs[1:])), "prompt scores and their alternatives")
    check(lp.tokens[len(ids):] == want.tokens and all(abs(a - b) <= 1e-5 for a, b in zip(lp.token_logprobs[len(ids):], want.token_logprobs)),
          "the completion's log-probabilities are the ones without echo")
    check(lp.text_offset[0] == 0 and lp.text_offset == sorted(lp.text_offset), "text offsets")
    first = json.loads(server.raw("POST", "/tokenize", {"prompt": want.tokens[0], "add_special_tokens": False})[1])["tokens"]
    check(len(first) == 1, f"the first generated token {want.tokens[0]!r} is one token")
    extended = greedy(client, ids + first, max_tokens=1, logprobs=0, echo=True).choices[0].logprobs
    check(abs(extended.token_logprobs[len(ids)] - want.token_logprobs[0]) <= 1e-4,
          f"prompt score {extended.token_logprobs[len(ids)]} != generated score {want.token_logprobs[0]}")
    texts, _, _ = streamed_text(greedy(client, PROMPTS[1], max_tokens=4, logprobs=2, echo=True, stream=True))
    check(texts[0] == r.choices[0].text, "streamed echo with logprobs == whole")
    scored = greedy(client, PROMPTS[1], max_tokens=0, logprobs=1, echo=True)
    check(scored.choices[0].text == PROMPTS[1] and scored.choices[0].finish_reason == "length" and scored.usage.completion_tokens == 0
          and scored.choices[0].logprobs.token_logprobs == lp.token_logprobs[:len(ids)], "max_tokens 0 scores the prompt alone")


@test
def stop_strings(server):
    client = server.client()
    full = greedy(client, PROMPTS[1], max_tokens=24).choices[0].text
    stop = full[len(full) // 2: len(full) // 2 + 3]
    check(len(stop.strip()) > 0, f"a stop string from {full!r}")
    cut = full[:full.index(stop)]
    r = greedy(client, PROMPTS[1], max_tokens=24, stop=[stop, "\u2603never"])
    check(r.choices[0].text == cut and r.choices[0].finish_reason == "stop", f"stop: {r.choices[0].text!r} != {cut!r}")
    texts, reasons, _ = streamed_text(greedy(client, PROMPTS[1], max_tokens=24, stop=stop, stream=True))
    check(texts[0] == cut and reasons[0] == "stop", "stop string held back while streaming")


@test
def streamed_equals_whole(server):
    client = server.client()
    for prompt in PROMPTS[:4]:
        whole = greedy(client, prompt, max_tokens=20, n=2)
        texts, reasons, usage = streamed_text(greedy(client, prompt, max_tokens=20, n=2, stream=True,
                                                     stream_options={"include_usage": True}))
        check([texts[i] for i in range(2)] == [c.text for c in whole.choices], "streamed text == whole text")
        check([reasons[i] for i in range(2)] == [c.finish_reason for c in whole.choices], "finish reasons")
        check(usage is not None and usage.total_tokens == whole.usage.total_tokens, "stream usage")
    messages = [{"role": "system", "content": "You answer in one sentence."}, {"role": "user", "content": "What is rain?"}]
    whole = client.chat.completions.create(model="smol", messages=messages, max_tokens=24, temperature=0)
    check(whole.choices[0].message.role == "assistant" and whole.choices[0].message.content, "chat answer")
    texts, reasons, usage = streamed_text(client.chat.completions.create(
        model="smol", messages=messages, max_tokens=24, temperature=0, stream=True, stream_options={"include_usage": True}))
    check(texts[0] == whole.choices[0].message.content and reasons[0] == whole.choices[0].finish_reason, "chat streamed == whole")
    check(usage.prompt_tokens == whole.usage.prompt_tokens, "chat usage")
    lp = client.chat.completions.create(model="smol", messages=messages, max_tokens=4, temperature=0, logprobs=True,
                                        top_logprobs=3).choices[0].logprobs.content
    check(len(lp) == 4 and all(len(t.top_logprobs) == 3 and t.bytes is not None for t in lp), "chat logprobs shape")


@test
def tokenize_detokenize(server):
    status, body = server.raw("POST", "/tokenize", {"prompt": "Hello world"})
    tokens = json.loads(body)["tokens"]
    check(status == 200 and tokens, "tokenize")
    status, body = server.raw("POST", "/detokenize", {"tokens": tokens})
    check(status == 200 and json.loads(body)["prompt"].endswith("Hello world"), "detokenize")
    chat = json.loads(server.raw("POST", "/tokenize", {"messages": [{"role": "user", "content": "hi"}]})[1])
    check(chat["count"] > 2, "tokenize messages")


@test
def bad_requests(server):
    ok = {"model": "smol", "prompt": "Hi", "max_tokens": 2}
    cases = [
        (400, "/v1/completions", b"{not json", "malformed JSON"),
        (400, "/v1/completions", {**ok, "max_tokens": "two"}, "wrong type"),
        (400, "/v1/completions", b'{"prompt": "\xff\xfe"}', "invalid UTF-8"),
        (400, "/v1/completions", {**ok, "prompt": ""}, "empty prompt"),
        (400, "/v1/completions", {**ok, "max_tokens": -3}, "negative max_tokens"),
        (400, "/v1/completions", {**ok, "max_tokens": 10 ** 9}, "huge max_tokens"),
        (400, "/v1/completions", {**ok, "n": 1000}, "n above the limit"),
        (400, "/v1/completions", {**ok, "prompt": "word " * 9000}, "prompt longer than the context"),
        (400, "/v1/chat/completions", {"model": "smol", "messages": "hi"}, "messages not a list"),
        (404, "/v1/completions", {**ok, "model": "gpt-17"}, "unknown model"),
        (404, "/v1/nothing", ok, "unknown path"),
        (413, "/v1/completions", {**ok, "prompt": "x" * (3 << 20)}, "body too large"),
    ]
    for status, path, body, what in cases:
        expect_status(server, status, "POST", path, body, what)
    try:
        server.client().completions.create(model="gpt-17", prompt="Hi", max_tokens=2)
        raise AssertionError("unknown model accepted")
    except openai.NotFoundError:
        pass


@test
def client_disconnect_cancels(server):
    request = urllib.request.Request(server.url + "/v1/completions", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"prompt": PROMPTS[3], "max_tokens": 400, "stream": True,
                                                      "temperature": 0, "stop": ["\u2603"]}).encode())
    response = urllib.request.urlopen(request, timeout=60)
    response.readline()
    response.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        metrics = server.raw("GET", "/metrics")[1].decode()
        running = [l for l in metrics.splitlines() if l.startswith("tessera_running_sequences ")]
        if running and float(running[0].split()[1]) == 0:
            return
        greedy(server.client(), "Hi", max_tokens=1)  # a step refreshes the gauge
        time.sleep(0.2)
    raise AssertionError("the disconnected client's sequence kept running")


@test
def load_clients(server, count=32, label="tp 1"):
    client = server.client()
    lengths = [4 + (i * 5) % 13 for i in range(count)]
    solos = [greedy(client, p, max_tokens=n).choices[0].text for p, n in zip(PROMPTS, lengths)]

    def one(i):
        start = time.monotonic()
        first, text = None, ""
        for chunk in greedy(client, PROMPTS[i], max_tokens=lengths[i], stream=True):
            if first is None and chunk.choices and chunk.choices[0].text:
                first = time.monotonic() - start
            text += "".join(c.text for c in chunk.choices)
        return i, text, first or (time.monotonic() - start), time.monotonic() - start

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        results = list(pool.map(one, range(count)))
    wall = time.monotonic() - start
    for i, text, _, _ in results:
        check(text == solos[i], f"client {i}: {text!r} != solo {solos[i]!r}")
    ttft = [r[2] for r in results]
    latency = [r[3] for r in results]
    print(f"      {label}: {count} clients, {sum(lengths)} tokens in {wall:.2f} s; time to first token p50 {percentile(ttft, 50):.3f} s "
          f"p99 {percentile(ttft, 99):.3f} s; latency p50 {percentile(latency, 50):.3f} s p99 {percentile(latency, 99):.3f} s")


def bounded(body):
    """`body`, but a mutation that became a valid request for a long answer (a lost or grown max_tokens) asks for 2."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    if not isinstance(parsed, dict) or (type(parsed.get("max_tokens")) is int and parsed["max_tokens"] <= 16
                                        and "max_completion_tokens" not in parsed):
        return body
    parsed["max_tokens"] = 2
    parsed.pop("max_completion_tokens", None)
    return json.dumps(parsed).encode()


@test
def fuzz_request_decoder(server, seconds=8.0):
    rng = random.Random(1)
    seeds = [json.dumps({"model": "smol", "prompt": "Hi", "max_tokens": 2, "stop": ["x"], "n": 1, "logprobs": 1}).encode(),
             json.dumps({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, "logprobs": True}).encode()]
    deadline, count = time.monotonic() + seconds, 0
    while time.monotonic() < deadline and count < 400:
        body = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(body))
            op = rng.randrange(3)
            if op == 0:
                body[at] = rng.randrange(256)
            elif op == 1 and len(body) > 1:
                del body[at]
            else:
                body.insert(at, rng.randrange(256))
        if rng.random() < 0.1:
            body = bytearray(rng.randbytes(rng.randint(0, 64)))
        body = bounded(bytes(body))
        path = rng.choice(["/v1/completions", "/v1/chat/completions", "/tokenize", "/detokenize"])
        status, _ = server.raw("POST", path, body)
        check(status in (200, 400, 404), f"fuzz body {body!r} on {path}: status {status}")
        count += 1
    check(server.raw("GET", "/health")[0] == 200, "healthy after the fuzz")
    print(f"      {count} fuzzed bodies")


@test
def api_key_and_queue_limit(tessera, model):
    server = Server(tessera, model, "--api-key", "sekret", "--max-batch", "1", "--max-queue", "1")
    try:
        expect_status_key = lambda status, headers, what: check(
            server.raw("POST", "/v1/completions", {"prompt": "Hi", "max_tokens": 1}, headers)[0] == status, what)
        expect_status_key(401, {}, "no key → 401")
        expect_status_key(401, {"Authorization": "Bearer wrong"}, "wrong key → 401")
        expect_status_key(200, {"Authorization": "Bearer sekret"}, "right key → 200")
        check(server.raw("GET", "/health")[0] == 200, "health without a key")
        client = server.client("sekret")
        body = dict(model="smol", prompt=PROMPTS[2], max_tokens=60, temperature=0)
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(lambda: client.completions.create(**body)) for _ in range(6)]
            outcomes = []
            for f in futures:
                try:
                    f.result()
                    outcomes.append(200)
                except openai.RateLimitError:
                    outcomes.append(429)
        check(429 in outcomes and 200 in outcomes, f"queue full → 429 ({outcomes})")
        check(client.completions.create(**body).choices[0].text, "serving after 429s")
    finally:
        check(server.stop() == 0, "exit 0 on SIGTERM")


@test
def graceful_shutdown(server):
    client = server.client()
    result = {}
    thread = threading.Thread(target=lambda: result.update(r=greedy(client, PROMPTS[5], max_tokens=40)))
    thread.start()
    time.sleep(0.3)
    status = server.stop()
    thread.join(60)
    check(status == 0, f"exit status {status}")
    check("r" in result and result["r"].choices[0].finish_reason == "length", "the running request finished")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tessera", default=".build/release/tessera")
    parser.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--tp", type=int, default=3,
                        help="tensor-parallel ranks of the second server (SmolLM2's 9 heads split over 3, not 2); 1 skips it")
    parser.add_argument("--pp", type=int, default=1, help="pipeline stages of a third server; 1 skips it")
    parser.add_argument("--only-parallel", action="store_true", help="run only the tests of the parallel servers")
    parser.add_argument("--mpirun", help="run only the test under mpirun, started with this command (make's MPIRUN)")
    args = parser.parse_args()
    if args.mpirun:
        under_mpirun(args)
        print(f"{len(PASSED)} passed, 0 failed")
        return
    if not args.only_parallel:
        single_rank(args)
    for flag, ranks in [("--tp", args.tp), ("--pp", args.pp)]:
        if ranks > 1:
            parallel(args, flag, ranks)
    print(f"{len(PASSED)} passed, 0 failed")


def parallel(args, flag, ranks):
    """The load test, greedy equal to `generate` with the same layout, streaming and SIGTERM on a split model."""
    print(f"tessera serve {flag} {ranks}:", flush=True)
    server = Server(args.tessera, args.model, flag, str(ranks))
    try:
        greedy_matches_tessera_generate(server, args.tessera, args.model, flag, str(ranks))
        load_clients(server, 32, f"{flag} {ranks}")
        streamed_equals_whole(server)
        graceful_shutdown(server)
    finally:
        server.kill()


def under_mpirun(args):
    """`--backend mpi --tp 2` as two mpirun processes (SmolLM2's 9 heads split unevenly): greedy answers equal
    `generate`'s with the same split, 8 concurrent streaming clients each get their solo answer, and SIGTERM to rank 0
    drains the job, which exits 0."""
    print("tessera serve --backend mpi --tp 2 under mpirun -np 2:", flush=True)
    server = Server(args.tessera, args.model, "--backend", "mpi", "--tp", "2", launch=[*shlex.split(args.mpirun), "-np", "2"])
    try:
        greedy_matches_tessera_generate(server, args.tessera, args.model, "--tp", "2", prompts=PROMPTS[:4])
        load_clients(server, 8, "mpirun tp 2")
        graceful_shutdown(server)
    finally:
        server.kill()


def single_rank(args):
    print("tessera serve (tp 1):", flush=True)
    server = Server(args.tessera, args.model)
    try:
        models_health_and_metrics(server)
        greedy_matches_tessera_generate(server, args.tessera, args.model)
        completions_parameters(server)
        echo_with_logprobs(server)
        stop_strings(server)
        streamed_equals_whole(server)
        tokenize_detokenize(server)
        bad_requests(server)
        client_disconnect_cancels(server)
        load_clients(server)
        fuzz_request_decoder(server)
        graceful_shutdown(server)
    finally:
        server.kill()
    api_key_and_queue_limit(args.tessera, args.model)


if __name__ == "__main__":
    # A timeout's SIGTERM ends the run through the `finally` blocks, which stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("FAILED: terminated (timed out?)"))
    try:
        main()
    except AssertionError as error:
        print(f"FAILED: {error}")
        print(f"{len(PASSED)} passed, 1 failed")
        sys.exit(1)
