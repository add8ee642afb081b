#!/usr/bin/python3
"""RSS soak of cutout-fcgi behind nginx: leak detection, not timing.

usage: /usr/bin/python3 bench/fcgi_soak.py [--bin DIR] [--requests N] [--chunk N]
           [--concurrency N] [--size PX] [--workers N] [--cpu-threads N]
           [--batch N] [--no-lock] [--max-seconds S] [--work DIR]

Starts cutout-fcgi (u2netp, cpu backend) and nginx (own prefix directory, free
port on 127.0.0.1, upstream keepalive) and sends --requests POST /remove
requests in chunks of --chunk with --concurrency kept-alive connections. With
--mixed (the default) every ten requests are: the astronaut (--size x --size)
as JPEG, PNG and WebP bodies and as a multipart upload (200 image/png), and
six hostile ones: a truncated JPEG, plain text, a body over
limits.max_body_bytes (1 MiB here), a multipart body with a wrong boundary, a
multipart body cut short, and bad parameters (?format=gif&max_width=-3).
Each hostile one must get a 4xx with a JSON {"error", "code"} body; nothing
else (no 5xx, no 502 from nginx, no connection reset) is accepted. --no-mixed
sends only the JPEG. After each chunk,
with no request in flight, it reads every worker's VmRSS/VmHWM from
/proc/PID/status and prints one line. Each chunk holds /tmp/bench.lock
(flock) so it never overlaps someone's timed benchmark; between chunks the
lock is released for a second. The worker PIDs must not change (a restarted worker would hide
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


def multipart(boundary, parts):
    out = b""
    for name, filename, ctype, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n".encode()
        if ctype:
            out += f"Content-Type: {ctype}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def make_cases(img, jpeg):
    """(name, path, body, content type, good) for one round of ten requests."""
    from PIL import Image
    im = Image.open(img).convert("RGB")
    png, webp = io.BytesIO(), io.BytesIO()
    im.save(png, "PNG")
    im.save(webp, "WEBP", quality=80)
    png, webp = png.getvalue(), webp.getvalue()
    b = "soakBoundary7d1"
    mp = multipart(b, [("format", None, None, b"png"), ("file", "a.png", "image/png", png)])
    return [
        ("jpeg", "/remove", jpeg, "image/jpeg", True),
        ("png", "/remove", png, "image/png", True),
        ("webp", "/remove", webp, "image/webp", True),
        ("multipart", "/remove", mp, f"multipart/form-data; boundary={b}", True),
        ("truncated", "/remove", jpeg[: len(jpeg) // 3], "image/jpeg", False),
        ("text", "/remove", b"this is not an image\n" * 20, "text/plain", False),
        ("oversized", "/remove", os.urandom(1536 * 1024), "image/jpeg", False),
        ("bad-boundary", "/remove", mp, "multipart/form-data; boundary=otherBoundary", False),
        ("cut-multipart", "/remove", mp[: len(mp) // 2], f"multipart/form-data; boundary={b}",
         False),
        ("bad-params", "/remove?format=gif&max_width=-3", jpeg, "image/jpeg", False),
    ]


def check_answer(good, status, ctype, data):
    """None when the answer is what the case deserves, else a description."""
    if good:
        if status == 200 and ctype == "image/png" and data.startswith(b"\x89PNG\r\n\x1a\n"):
            return None
    elif 400 <= status < 500 and (ctype or "").startswith("application/json"):
        try:
            j = json.loads(data)
            if isinstance(j.get("error"), str) and isinstance(j.get("code"), str):
                return None
        except ValueError:
            pass
    return f"{status} {ctype} {data[:100]!r}"


def cpu_model():
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def write_report(a, cases, table, verdict, rc, elapsed):
    with open(a.report, "w") as f:
        f.write(f"# cutout-fcgi soak, {time.strftime('%Y-%m-%d %H:%M')}\n\n"
                f"Command: `/usr/bin/python3 bench/fcgi_soak.py {' '.join(sys.argv[1:])}`  \n"
                f"CPU: {cpu_model()} ({os.cpu_count()} CPUs, shared with other work)  \n"
                f"{a.requests} requests, concurrency {a.concurrency}, through nginx, "
                f"{a.workers} worker(s) x {a.threads} threads, u2netp on the cpu backend, "
                f"{a.size}x{a.size} images; {elapsed:.0f} s in all.  \n"
                f"Cases, in rotation: {', '.join(c[0] for c in cases)}.\n\n"
                f"VmRSS/VmHWM of each worker after each chunk (no request in flight):\n\n")
        f.write("\n".join(table) + "\n\n")
        f.write("\n".join(f"- {v}" for v in verdict) + "\n\n")
        f.write(f"Result: {'pass' if rc == 0 else 'FAIL'}.\n")


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
    ap.add_argument("--mixed", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--report", help="also write the table and verdict to this markdown file")
    a = ap.parse_args()
    a.work, a.bin = os.path.abspath(a.work), os.path.abspath(a.bin)

    os.makedirs(os.path.join(a.work, "tmp"), exist_ok=True)
    img = os.path.join(a.work, f"astronaut-{a.size}.jpg")
    make_jpeg(a.size, img)
    body = open(img, "rb").read()
    cases = make_cases(img, body) if a.mixed else [("jpeg", "/remove", body, "image/jpeg", True)]
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
limits: {{queue_depth: 64, request_timeout_s: 60, max_body_bytes: 1048576}}
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
        table = []

        def out(line):
            table.append(line)
            print(line, flush=True)

        out("| requests | " + " | ".join(f"pid {p} VmRSS MB | VmHWM MB" for p in pids)
            + " | errors | elapsed s | chunk req/s |")
        out("|---" * (4 + 2 * len(pids)) + "|")

        sent = 0
        issued = [0]
        counts = {}
        errors = []
        samples = {}
        rate = [0.0]  # requests/s of the last chunk, lock wait excluded
        lock_fd = None if a.no_lock else os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o666)

        def sample():
            s = {p: proc_status(p) for p in pids}
            samples[sent] = s
            cells = " | ".join(f"{s[p]['VmRSS'] / 1024:.1f} | {s[p]['VmHWM'] / 1024:.1f}" for p in pids)
            out(f"| {sent} | {cells} | {len(errors)} | {time.time() - t_start:.0f} | {rate[0]:.1f} |")

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
                        name, path, data, ctype, good = cases[issued[0] % len(cases)]
                        issued[0] += 1
                    try:
                        conn.request("POST", path, body=data, headers={"Content-Type": ctype})
                        r = conn.getresponse()
                        d = r.read()
                        bad = check_answer(good, r.status, r.getheader("Content-Type"), d)
                        with mu:
                            counts[name] = counts.get(name, {})
                            counts[name][r.status] = counts[name].get(r.status, 0) + 1
                            if bad:
                                errors.append(f"{name}: {bad}")
                        if r.getheader("Connection", "").lower() == "close":
                            conn.close()
                            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                    except Exception as e:  # counted, connection renewed
                        with mu:
                            errors.append(f"{name}: {e!r}")
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

        verdict = []
        if errors:
            verdict.append(f"{len(errors)} wrong answers, first: {errors[:3]}")
        verdict.append("answers by case and status: " + ", ".join(
            f"{k} {dict(sorted(v.items()))}" for k, v in sorted(counts.items())))
        base = min(samples) if 1000 not in samples else 1000
        last = max(samples)
        grew = False
        for p in pids:
            at = ", ".join(f"{samples[k][p]['VmRSS'] / 1024:.1f} MB at {k}"
                           for k in (1000, 5000, 10000) if k in samples)
            r0, r1 = samples[base][p]["VmRSS"], samples[last][p]["VmRSS"]
            g = 100.0 * (r1 - r0) / r0
            grew |= g > 2.0
            verdict.append(f"pid {p}: VmRSS {at}; {base} -> {last} requests: {g:+.2f}% "
                           f"({'pass' if g <= 2.0 else 'FAIL'}: at most +2%)")
        if sent < a.requests:
            verdict.append(f"stopped after {sent} of {a.requests} requests (--max-seconds)")
        for v in verdict:
            print(v, flush=True)
        rc = 0 if not errors and not grew and sent == a.requests else 1
        if a.report:
            write_report(a, cases, table, verdict, rc, time.time() - t_start)
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
