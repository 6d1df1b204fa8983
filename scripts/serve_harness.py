"""Helpers of test_serve.py: a `tessera serve` process on a free loopback port, raw HTTP requests, checks."""
import json
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
    def run(*args):
        start = time.monotonic()
        function(*args)
        PASSED.append(function.__name__)
        print(f"  ok  {function.__name__} ({time.monotonic() - start:.1f} s)", flush=True)
    return run


class Server:
    """A `tessera serve` process on a free loopback port."""

    def __init__(self, tessera, model, *flags):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([tessera, "serve", "--model", model, "--port", str(self.port),
                                         "--served-model-name", "smol", *flags],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()
        self.saw_loading_503 = False
        deadline = time.monotonic() + 300
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
        """SIGTERM; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


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
