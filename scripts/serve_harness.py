"""Helpers of test_serve.py: a `tessera serve` process on a loopback port the system picks, raw HTTP requests, checks."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import openai

PASSED = []


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def test(function):
    """Runs one test function, printing its name and time."""
    def run(*args, **options):
        start = time.monotonic()
        function(*args, **options)
        PASSED.append(function.__name__)
        print(f"  ok  {function.__name__} ({time.monotonic() - start:.1f} s)", flush=True)
    return run


class Server:
    """A `tessera serve` process on a port the system picks (`--port 0`), so parallel test runs never collide."""

    def __init__(self, tessera, model, *flags, launch=()):
        """`launch`: the command that starts `tessera` (e.g. mpirun and its flags), nothing to run it directly."""
        self.launched = bool(launch)
        self.process = subprocess.Popen([*launch, tessera, "serve", "--model", model, "--port", "0",
                                         "--served-model-name", "smol", *flags],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()
        self.saw_loading_503 = False
        deadline = time.monotonic() + 300
        self.url = None
        while self.url is None and time.monotonic() < deadline:
            check(self.process.poll() is None, f"server exited early: {self.lines}")
            found = [m.group(1) for m in map(re.compile(r"listening on (http://[^;\s]+);").search, list(self.lines)) if m]
            self.url = found[0] if found else None
            time.sleep(0.02)
        check(self.url is not None and not self.url.endswith(":0"), f"no bound URL in the listening line: {self.lines}")
        self.port = int(self.url.rsplit(":", 1)[1])
        while time.monotonic() < deadline:
            check(self.process.poll() is None, f"server exited early: {self.lines}")
            status, _ = self.raw("GET", "/health")
            if status == 503:
                self.saw_loading_503 = True
            if status == 200:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("server not ready within 300 s")
        for _ in range(100):
            if any("ready:" in line for line in self.lines):
                break
            time.sleep(0.05)
        ready = [line for line in self.lines if "ready:" in line]
        check(ready and f"ready: {self.url} " in ready[0], f"the ready line names the bound URL {self.url}: {ready}")

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def client(self, key="none"):
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, timeout=120)

    def raw(self, method, path, body=None, headers=None):
        """(status, body bytes) of one request; status 0 when the connection failed."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            return 0, b""

    def stop(self):
        """SIGTERM to the server (rank 0's process under a launcher); the exit status (the launcher's)."""
        os.kill(self.rank0_pid() if self.launched else self.process.pid, signal.SIGTERM)
        return self.process.wait(timeout=60)

    def kill(self):
        """Ends the server if it still runs: SIGTERM to the process started (a launcher ends its job), then SIGKILL."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def rank0_pid(self):
        """The pid of rank 0's `tessera`: the launcher's child whose environment says OMPI_COMM_WORLD_RANK=0."""
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/environ", "rb") as environ:
                    rank0 = b"OMPI_COMM_WORLD_RANK=0" in environ.read().split(b"\0")
            except (OSError, ValueError, IndexError):
                continue
            if parent == self.process.pid and rank0:
                return int(entry)
        raise AssertionError("no rank 0 process under the launcher")


PROMPTS = [f"Question {i}: what is {i} plus {i * 3}? Answer:" if i % 3 == 0 else
           f"Once upon a time, in a land of {['dragons', 'rivers', 'robots', 'kings'][i % 4]}, there lived" if i % 3 == 1 else
           f"The list of the {i} most useful things to carry on a hike:" for i in range(32)]


def greedy(client, prompt, max_tokens=16, **extra):
    return client.completions.create(model="smol", prompt=prompt, max_tokens=max_tokens, temperature=0, **extra)


def streamed_text(stream):
    """(texts by choice index, finish reasons by index, usage) of a completion or chat stream."""
    texts, reasons, usage = {}, {}, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            piece = choice.delta.content if hasattr(choice, "delta") else choice.text
            texts[choice.index] = texts.get(choice.index, "") + (piece or "")
            if choice.finish_reason is not None:
                check(choice.index not in reasons, f"finish_reason twice for choice {choice.index}")
                reasons[choice.index] = choice.finish_reason
    return texts, reasons, usage


def expect_status(server, status, method, path, body, what, headers=None):
    got, text = server.raw(method, path, body, headers)
    check(got == status, f"{what}: status {got} (expected {status}) {text[:200]!r}")
    if status >= 400:
        error = json.loads(text)["error"]
        check(error["message"] and error["type"], f"{what}: OpenAI error JSON")
    check(server.raw("POST", "/v1/completions", {"prompt": "Hi", "max_tokens": 2})[0] == 200, f"still serving after {what}")


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]
