#!/usr/bin/python3
"""RSS soak of cutout-fcgi behind nginx: leak detection, not timing.

usage: /usr/bin/python3 bench/fcgi_soak.py [--bin DIR] [--requests N] [--chunk N]
           [--concurrency N] [--size PX] [--workers N] [--cpu-threads N]
           [--batch N] [--no-lock] [--max-seconds S] [--work DIR]

Starts cutout-fcgi (u2netp, cpu backend) and nginx (own prefix directory, free
port on 127.0.0.1, upstream keepalive) and sends --requests POST /remove
requests (a --size x --size JPEG of skimage's astronaut, PNG cutout back) in
chunks of --chunk with --concurrency kept-alive connections. After each chunk,
with no request in flight, it reads every worker's VmRSS/VmHWM from
/proc/PID/status and prints one line. Each chunk holds /tmp/bench.lock
(flock) so it never overlaps someone's timed benchmark; between chunks the
lock is released for a second. Every response must be 200 image/png with a
PNG signature; the worker PIDs must not change (a restarted worker would hide
a leak). Stops both servers by PID. Only 127.0.0.1; every wait is bounded.
"""
import argparse
import fcntl
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LOCK = "/tmp/bench.lock"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])  # kB
    return out


def get(port, path, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", path)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def make_jpeg(size, path):
    from PIL import Image
    from skimage import data
    im = Image.fromarray(data.astronaut()).resize((size, size), Image.LANCZOS)
    im.save(path, quality=90)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build-fcgibench", "soak"))
    ap.add_argument("--requests", type=int, default=10000)
    ap.add_argument("--chunk", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--cpu-threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--no-lock", action="store_true")
    ap.add_argument("--max-seconds", type=float, default=2700)
    a = ap.parse_args()
    a.work, a.bin = os.path.abspath(a.work), os.path.abspath(a.bin)

    os.makedirs(os.path.join(a.work, "tmp"), exist_ok=True)
    img = os.path.join(a.work, f"astronaut-{a.size}.jpg")
    make_jpeg(a.size, img)
    body = open(img, "rb").read()
    sock = os.path.join(a.work, "cutout.sock")
    port = free_port()
    cfg = os.path.join(a.work, "cutout.yaml")
    with open(cfg, "w") as f:
        f.write(f"""# written by bench/fcgi_soak.py
listen: unix:{sock}
workers: {a.workers}
threads: {a.threads}
backend: cpu
cpu_threads: {a.cpu_threads}
models: {{default: u2netp, paths: {{u2netp: {ROOT}/models/u2netp.onnx}}}}
batch: {{max_size: {a.batch}, max_delay_ms: 5}}
limits: {{queue_depth: 64, request_timeout_s: 60}}
max_requests: 0
log: {{level: warn, format: text, file: {a.work}/cutout-fcgi.log}}
""")
    user = "user root;" if os.getuid() == 0 else ""
    pre = a.work
    with open(os.path.join(pre, "nginx.conf"), "w") as f:
        f.write(f"""worker_processes 1;
{user}
pid {pre}/nginx.pid;
error_log {pre}/nginx-error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {pre}/tmp/body;
    fastcgi_temp_path {pre}/tmp/fastcgi;
    proxy_temp_path {pre}/tmp/proxy;
    uwsgi_temp_path {pre}/tmp/uwsgi;
    scgi_temp_path {pre}/tmp/scgi;
    client_max_body_size 21m;
    client_body_buffer_size 1m;
    upstream cutout {{ server unix:{sock}; keepalive {min(a.workers * a.threads, 8)}; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            include /etc/nginx/fastcgi_params;
            fastcgi_pass cutout;
            fastcgi_keep_conn on;
            fastcgi_read_timeout 120s;
            fastcgi_next_upstream error timeout non_idempotent;
        }}
    }}
}}
""")
    env = dict(os.environ, OPENBLAS_CORETYPE=os.environ.get("OPENBLAS_CORETYPE", "Haswell"))
    flog = open(os.path.join(pre, "cutout-fcgi.out"), "wb")
    fcgi = subprocess.Popen([os.path.join(a.bin, "cutout-fcgi"), "--config", cfg],
                            stdout=flog, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    nginx = subprocess.Popen(["nginx", "-p", pre, "-c", os.path.join(pre, "nginx.conf"),
                              "-g", "daemon off;"], stdout=flog, stderr=subprocess.STDOUT)
    print(f"cutout-fcgi pid {fcgi.pid}, nginx pid {nginx.pid}, port {port}, image {img} "
          f"({len(body)} bytes)", flush=True)
    t_start = time.time()
    rc = 1
    try:
        end = time.time() + 60
        while time.time() < end:
            try:
                st, d = get(port, "/status")
                j = json.loads(d)
                if st == 200 and sum(w["state"] == "ready" for w in j["workers"]) == a.workers:
                    break
            except Exception:
                pass
            time.sleep(0.2)
        else:
            print("servers did not become ready in 60 s", file=sys.stderr)
            return 1
        pids = sorted(w["pid"] for w in json.loads(get(port, "/status")[1])["workers"])
        print(f"workers {pids}; config {cfg}", flush=True)
        print("| requests | " + " | ".join(f"pid {p} VmRSS MB | VmHWM MB" for p in pids)
              + " | errors | elapsed s | chunk req/s |", flush=True)
        print("|---" * (4 + 2 * len(pids)) + "|", flush=True)

        sent = 0
        errors = []
        samples = {}
        rate = [0.0]  # requests/s of the last chunk, lock wait excluded
        lock_fd = None if a.no_lock else os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o666)

        def sample():
            s = {p: proc_status(p) for p in pids}
            samples[sent] = s
            cells = " | ".join(f"{s[p]['VmRSS'] / 1024:.1f} | {s[p]['VmHWM'] / 1024:.1f}" for p in pids)
            print(f"| {sent} | {cells} | {len(errors)} | {time.time() - t_start:.0f} | {rate[0]:.1f} |", flush=True)

        sample()
        while sent < a.requests and time.time() - t_start < a.max_seconds:
            n = min(a.chunk, a.requests - sent)
            if lock_fd is not None:
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
            t_chunk = time.time()
            counter = [n]
            mu = threading.Lock()

            def client():
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                while True:
                    with mu:
                        if counter[0] == 0:
                            break
                        counter[0] -= 1
                    try:
                        conn.request("POST", "/remove", body=body,
                                     headers={"Content-Type": "image/jpeg"})
                        r = conn.getresponse()
                        d = r.read()
                        if (r.status != 200 or r.getheader("Content-Type") != "image/png"
                                or not d.startswith(b"\x89PNG\r\n\x1a\n")):
                            with mu:
                                errors.append(f"{r.status} {d[:100]!r}")
                    except Exception as e:  # counted, connection renewed
                        with mu:
                            errors.append(repr(e))
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                conn.close()

            ts = [threading.Thread(target=client) for _ in range(a.concurrency)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            rate[0] = n / (time.time() - t_chunk)
            if lock_fd is not None:
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
            sent += n
            now = sorted(w["pid"] for w in json.loads(get(port, "/status")[1])["workers"])
            if now != pids:
                print(f"worker pids changed {pids} -> {now}: RSS comparison invalid", flush=True)
                return 1
            sample()
            time.sleep(1)  # let a waiting benchmark take the lock

        if errors:
            print(f"{len(errors)} errors, first: {errors[:3]}", flush=True)
        base = min(samples) if 1000 not in samples else 1000
        last = max(samples)
        for p in pids:
            r0, r1 = samples[base][p]["VmRSS"], samples[last][p]["VmRSS"]
            print(f"pid {p}: VmRSS {r0 / 1024:.1f} MB at {base} -> {r1 / 1024:.1f} MB at {last} "
                  f"requests: {100.0 * (r1 - r0) / r0:+.2f}% (target within 5%)", flush=True)
        rc = 0 if not errors else 1
    finally:
        for p in (nginx, fcgi):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in (nginx, fcgi):
            try:
                p.wait(40)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        flog.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
