#!/usr/bin/env python3
"""`herd serve` checked with independent clients: the official `openai` Python client and
`prometheus_client`'s text parser.

Usage: openai_client_test.py PATH_TO_HERD_BINARY
Starts herd serve on the embedded default model (loopback, a free port), runs every check, stops it,
and prints 'N passed, N failed'. Exit status 1 if anything failed.
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import openai
from prometheus_client.parser import text_string_to_metric_families

HERD = sys.argv[1]
RESULTS = []


def check(name, condition, detail=""):
    RESULTS.append((name, bool(condition)))
    print(("ok   " if condition else "FAIL ") + name + ("" if condition else f": {detail}"), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(port, *extra):
    proc = subprocess.Popen([HERD, "serve", "--port", str(port), "--threads", "2", "--max-model-len", "512",
                             "--kv-cache-memory", "256MiB", "--max-num-seqs", "8", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except Exception:
            if proc.poll() is not None:
                raise RuntimeError("herd serve exited: " + proc.stderr.read().decode())
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("herd serve did not come up")


def metrics(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = s.name + json.dumps({k: v for k, v in s.labels.items() if k not in ("model_name", "engine")}, sort_keys=True)
            values[key] = s.value
    return values


def main():
    port = free_port()
    server = start(port)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=120)
        model = client.models.list().data[0].id
        check("models.list names the served model", model == "SmolLM2-135M-Instruct.Q4_1", model)
        generated = 0
        finished = 0

        r = client.completions.create(model=model, prompt="The capital of France is", max_tokens=8, temperature=0)
        check("completion text", " Paris" in r.choices[0].text, r.choices[0].text)
        check("completion usage", r.usage.completion_tokens == 8 and r.usage.prompt_tokens == 5, r.usage)
        generated += r.usage.completion_tokens
        finished += 1

        chunks, usage = [], None
        for c in client.completions.create(model=model, prompt="Once upon a time", max_tokens=10, stream=True,
                                           stream_options={"include_usage": True}, extra_body={"ignore_eos": True}):
            if c.choices:
                chunks.append(c)
            if c.usage:
                usage = c.usage
        check("streamed completion chunks", len(chunks) == 10 and chunks[-1].choices[0].finish_reason == "length", len(chunks))
        check("streamed usage chunk", usage is not None and usage.completion_tokens == 10, usage)
        generated += 10
        finished += 1

        r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "What is 2+2?"}],
                                           max_tokens=20, temperature=0)
        check("chat answer", "4" in r.choices[0].message.content, r.choices[0].message.content)
        check("chat role", r.choices[0].message.role == "assistant")
        generated += r.usage.completion_tokens
        finished += 1

        deltas, roles = [], []
        for c in client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Say hi"}],
                                                max_tokens=6, stream=True, stream_options={"include_usage": True}):
            if c.choices:
                if c.choices[0].delta.role:
                    roles.append(c.choices[0].delta.role)
                if c.choices[0].delta.content:
                    deltas.append(c.choices[0].delta.content)
            if c.usage:
                generated += c.usage.completion_tokens
        check("streamed chat", roles == ["assistant"] and len(deltas) >= 1, (roles, deltas))
        finished += 1

        r = client.completions.create(model=model, prompt="1, 2, 3,", max_tokens=3, temperature=0, logprobs=5)
        lp = r.choices[0].logprobs
        check("completion logprobs", len(lp.tokens) == 3 and len(lp.top_logprobs[0]) == 5
              and all(v <= 0 for v in lp.token_logprobs), lp)
        generated += 3
        finished += 1

        try:
            client.completions.create(model="no-such-model", prompt="x", max_tokens=1)
            check("unknown model is 404", False, "accepted")
        except openai.NotFoundError as e:
            check("unknown model is 404", "does not exist" in str(e), e)
        try:
            client.completions.create(model=model, prompt="word " * 600, max_tokens=10)
            check("too-long prompt is 400", False, "accepted")
        except openai.BadRequestError as e:
            check("too-long prompt is 400", "maximum context length is 512" in str(e), e)
        try:
            client.completions.create(model=model, prompt="x", max_tokens=1, temperature=-1)
            check("bad temperature is 400", False, "accepted")
        except openai.BadRequestError as e:
            check("bad temperature is 400", "temperature" in str(e), e)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=b"{\"prompt\": ", method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=10)
            check("malformed JSON is 400", False, "accepted")
        except urllib.error.HTTPError as e:
            body = json.loads(e.read())
            check("malformed JSON is 400", e.code == 400 and body["error"]["type"] == "BadRequestError", body)
        big = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions", data=b" " * (9 << 20), method="POST")
        try:
            urllib.request.urlopen(big, timeout=30)
            check("oversized body is 413", False, "accepted")
        except urllib.error.HTTPError as e:
            check("oversized body is 413", e.code == 413, e.code)
        except (ConnectionError, urllib.error.URLError) as e:
            check("oversized body is 413", False, e)

        # A client that disconnects mid-stream aborts its request and frees its KV blocks.
        stream = client.completions.create(model=model, prompt="Count:", max_tokens=400, stream=True,
                                           extra_body={"ignore_eos": True})
        for i, _ in enumerate(stream):
            if i == 2:
                break
        stream.close()
        m = {}
        for _ in range(100):
            m = metrics(port)
            if m.get('vllm:request_success_total{"finished_reason": "abort"}', 0) >= 1:
                break
            time.sleep(0.1)
        check("disconnect aborts the request", m.get('vllm:request_success_total{"finished_reason": "abort"}') == 1, m)
        check("aborted request's blocks are freed", m.get("herd_kv_blocks_used{}") == 0, m.get("herd_kv_blocks_used{}"))

        successes = sum(v for k, v in m.items() if k.startswith("vllm:request_success_total") and "abort" not in k)
        check("metrics: finished requests match the client's", successes == finished, (successes, finished))
        aborted_tokens = m['vllm:generation_tokens_total{}'] - generated
        check("metrics: generation tokens match the client's usage", 0 < aborted_tokens < 400,
              (m['vllm:generation_tokens_total{}'], generated))
        check("metrics: histograms parse", m.get("vllm:time_to_first_token_seconds_count{}", 0) >= finished, m)
    finally:
        server.terminate()
        server.wait(timeout=30)

    # API key: required on /v1, not on /health.
    port = free_port()
    server = start(port, "--api-key", "sesame")
    try:
        try:
            openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0).models.list()
            check("wrong API key is 401", False, "accepted")
        except openai.AuthenticationError:
            check("wrong API key is 401", True)
        ok = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sesame", max_retries=0).models.list()
        check("right API key works", len(ok.data) == 1)
    finally:
        server.terminate()
        server.wait(timeout=30)

    passed = sum(1 for _, ok in RESULTS if ok)
    failed = len(RESULTS) - passed
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
