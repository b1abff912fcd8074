"""Load test of ``emoscope serve``: many concurrent clients on loopback, steered and unsteered greedy requests.

Starts ``emoscope serve`` as a subprocess on a loopback socket this script holds (``--fd``), computes every
distinct request's reference reply sequentially (one request at a time), then sends ``--requests`` requests from
``--clients`` concurrent clients (threads), each a mix of unsteered and steered (``calm``/``desperate`` +-0.1)
greedy requests with readings.
Prints errors, how many outputs equal their sequential reference, how many requests ran in batches, latency
percentiles, throughput, and the server's resident memory at the start, the middle and the end.

    .venv/bin/python benchmarks/server_load.py [--bank banks/smollm2-135m-instruct] [--clients 50] [--requests 100]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

PROMPTS = ["Name a colour.", "Say hello to a new colleague.", "What is 2 + 2?", "Describe rain in one line.",
           "Give me a word that rhymes with cat."]
STEERS: list[dict[str, float] | None] = [None, {"calm": 0.1}, {"desperate": 0.1}, {"calm": -0.1}, None]


def post(url: str, body: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        out: dict[str, Any] = json.loads(r.read())
        return out


def wait_ready(base: str, server: subprocess.Popen[bytes], deadline_s: float) -> None:
    """Poll /healthz until it answers, for at most ``deadline_s`` seconds; stop early if the server exited."""
    end = time.monotonic() + deadline_s
    while (left := end - time.monotonic()) > 0:
        if server.poll() is not None:
            err = server.stderr.read().decode(errors="replace") if server.stderr else ""
            raise SystemExit(f"emoscope serve exited with {server.returncode}: {err[-2000:]}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=min(2.0, left)) as r:
                if r.status == 200:
                    return
        except OSError:  # still loading: the request waited in the socket's backlog
            time.sleep(0.05)
    raise SystemExit(f"emoscope serve did not answer {base}/healthz within {deadline_s:.0f} s")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bank", default="banks/smollm2-135m-instruct")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--max-batch", type=int, default=None, help="the server's --max-batch (default: its own)")
    args = ap.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # held from the start: no free-port race
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    exe = str(Path(sys.executable).with_name("emoscope"))
    server = subprocess.Popen([exe, "serve", "--bank", args.bank, "--fd", str(sock.fileno()), "--dtype", args.dtype,
                               "--max-pending", str(max(64, args.clients + 1)),
                               *(["--max-batch", str(args.max_batch)] if args.max_batch else [])],
                              pass_fds=[sock.fileno()], stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        wait_ready(base, server, deadline_s=600)
        url = base + "/v1/chat/completions"

        def body(i: int) -> dict[str, Any]:
            b: dict[str, Any] = {"messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                                 "max_tokens": args.tokens, "emoscope": {"monitor": ["calm", "desperate"]}}
            steer = STEERS[(i // len(PROMPTS)) % len(STEERS)]
            if steer:
                b["emoscope"]["steer"] = steer
            return b

        distinct = len(PROMPTS) * len(STEERS)
        t0 = time.perf_counter()
        reference = {i: post(url, body(i))["choices"][0]["message"]["content"] for i in range(distinct)}
        t_seq = time.perf_counter() - t0
        rss = [rss_kb(server.pid)]
        results: dict[int, tuple[str | None, float]] = {}
        errors: list[str] = []
        lock = threading.Lock()
        todo = list(range(args.requests))

        def client() -> None:
            while True:
                with lock:
                    if not todo:
                        return
                    i = todo.pop(0)
                start = time.perf_counter()
                try:
                    text = post(url, body(i))["choices"][0]["message"]["content"]
                except Exception as exc:  # counted, never fatal
                    with lock:
                        errors.append(f"{i}: {exc}")
                    text = None
                with lock:
                    results[i] = (text, time.perf_counter() - start)
                    if len(results) == args.requests // 2:
                        rss.append(rss_kb(server.pid))

        t1 = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t1
        rss.append(rss_kb(server.pid))
        lat = sorted(v[1] for v in results.values())
        same = sum(results[i][0] == reference[i % distinct] for i in results)
        metrics = urllib.request.urlopen(base + "/metrics").read().decode()
        def metric(name: str) -> int:
            return next(int(float(line.split()[-1])) for line in metrics.splitlines() if line.startswith(name + " "))

        tokens = metric("emoscope_generated_tokens_total")
        batched = (metric("emoscope_batches_total"), metric("emoscope_batched_requests_total"))
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        sock.close()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"server: emoscope serve --bank {args.bank} ({args.dtype}, max batch "
          f"{args.max_batch or 'default'}), one model worker; {args.clients} concurrent "
          f"clients, {args.requests} greedy requests of up to {args.tokens} tokens, {distinct} distinct (5 prompts x "
          "5 steerings, 3 of them steered), readings of 2 emotions on every token")
    print(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    print(f"batches: {batched[0]} batches carried {batched[1]} of the requests")
    print(f"outputs equal to their sequential reference: {same}/{len(results)}")
    print(f"latency: p50 {lat[len(lat) // 2]:.2f} s, p95 {lat[int(0.95 * (len(lat) - 1))]:.2f} s, max {lat[-1]:.2f} s")
    print(f"throughput under load: {len(results) / wall:.2f} requests/s in {wall:.1f} s; sequential references: "
          f"{distinct / t_seq:.2f} requests/s; {tokens} tokens generated in all")
    print(f"server resident memory: {rss[0] / 1024:.0f} MiB before the load, {rss[1] / 1024:.0f} MiB halfway, "
          f"{rss[-1] / 1024:.0f} MiB after")


if __name__ == "__main__":
    main()
