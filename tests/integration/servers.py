#!/usr/bin/python3
"""Integration tests: real web servers on 127.0.0.1 in front of cutout-fcgi.

usage: /usr/bin/python3 tests/integration/servers.py BUILD_DIR

nginx (own prefix directory, free ports, started here and stopped by PID)
proxies to cutout-fcgi over TCP with fastcgi_keep_conn + upstream keepalive.
Checks: the same pixels as build/cutout for the same photo, /health /metrics
/status, every error status with its JSON body, keepalive (sequential and 32
concurrent requests), kill -9 of a worker, SIGUSR1 log reopening after a
rename (logrotate), SIGHUP reload without dropped requests, 503 on a full
queue, SIGTERM drain; then nginx with fcgi/conf/nginx-upstream.conf over two
cutout-fcgi backends (one SIGKILLed: requests go to the other), lighttpd and
Apache (mod_proxy_fcgi) with the same photo check. Prints "N passed, N failed".
Only 127.0.0.1; every wait is bounded.
"""
import base64
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile  # noqa: E402 - the hostile-client tests; they use this module's helpers

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FCGI = os.path.join(BUILD, "cutout-fcgi")
CLI = os.path.join(BUILD, "cutout")
MODEL = os.path.join(ROOT, "models", "u2netp.onnx")
ENV = dict(os.environ, OPENBLAS_CORETYPE=os.environ.get("OPENBLAS_CORETYPE", "Haswell"))

passed = failed = 0
T0 = time.time()


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name}" + (f": {detail}" if detail else ""), flush=True)
    return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(fn, timeout, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        try:
            v = fn()
            if v:
                return v
        except Exception:
            pass
        time.sleep(step)
    return None


# ------------------------------------------------------------------ HTTP


def request(port, method, path, body=None, headers=None, conn=None, timeout=120):
    """One request; returns (status, {lower-case header: value}, body)."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    if own:
        conn.close()
    return r.status, hdrs, data


def multipart(fields, files):
    b = "----cutout" + uuid.uuid4().hex
    out = io.BytesIO()
    for k, v in fields.items():
        out.write(f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    for k, (fname, data) in files.items():
        out.write(f'--{b}\r\nContent-Disposition: form-data; name="{k}"; filename="{fname}"\r\n'
                  f"Content-Type: application/octet-stream\r\n\r\n".encode())
        out.write(data)
        out.write(b"\r\n")
    out.write(f"--{b}--\r\n".encode())
    return out.getvalue(), {"Content-Type": f"multipart/form-data; boundary={b}"}


def pixels(data):
    im = Image.open(io.BytesIO(data))
    im.load()
    return im.mode, np.asarray(im)


def same_pixels(a_bytes, b_bytes):
    (ma, a), (mb, b) = pixels(a_bytes), pixels(b_bytes)
    if ma != mb or a.shape != b.shape:
        return False, f"mode/shape {ma}{a.shape} vs {mb}{b.shape}"
    d = np.abs(a.astype(int) - b.astype(int))
    return int(d.max()) == 0, f"max diff {int(d.max())}, {int((d > 0).sum())} values differ"


def png_stream_problem(data, channels):
    """"" when data is a strictly valid PNG (every chunk's CRC, one zlib
    stream over the IDATs whose adler32 and length check out), else what is
    wrong. PIL alone is lenient about some of this."""
    import struct
    import zlib
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return "signature"
    pos, idat, w, h = 8, b"", 0, 0
    while pos + 12 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0] != zlib.crc32(kind + body):
            return f"CRC of {kind!r}"
        if kind == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + n
    try:
        raw = zlib.decompress(idat)  # checks the adler32
    except zlib.error as e:
        return f"zlib: {e}"
    return "" if len(raw) == h * (1 + w * channels) else f"{len(raw)} bytes of scanlines for {w}x{h}"


def is_error_json(data, code_slug=None):
    try:
        j = json.loads(data)
    except Exception:
        return False
    ok = isinstance(j.get("error"), str) and j["error"] and isinstance(j.get("code"), str)
    return ok and (code_slug is None or j["code"] == code_slug)


def finish(tmp, prefix=""):
    """The end of a suite: tmp removed when every check passed (else named,
    its logs kept), the "N passed, N failed" line, the exit status."""
    if failed == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"logs kept in {tmp}")
    print(f"{prefix}{passed} passed, {failed} failed")
    return 1 if failed else 0


# ------------------------------------------------------------------ processes


def _die_with_parent():
    """Servers started here get SIGTERM if this script dies (PR_SET_PDEATHSIG)."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class Proc:
    def __init__(self, argv, log, cwd=ROOT, env=None):
        self.log = open(log, "wb")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd, env=env or ENV,
                                  preexec_fn=_die_with_parent)

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.p.poll() is None:
            try:
                os.kill(self.p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait(10)
        self.log.close()
        return self.p.returncode


def write_config(path, fport, log, **over):
    cfg = {
        "workers": 2, "threads": 4, "queue_depth": 32, "batch_size": 4, "delay": 20,
        "max_body": 4 << 20, "max_pixels": 20000000, "max_requests": 0, "timeout": 60,
    }
    cfg.update(over)
    with open(path, "w") as f:
        listen = "" if cfg.get("fd0") else f"listen: 127.0.0.1:{fport}"
        f.write(f"""# written by tests/integration/servers.py
{listen}
workers: {cfg['workers']}
threads: {cfg['threads']}
backend: cpu
cpu_threads: 1
models:
  default: u2netp
  paths:
    u2netp: {MODEL}
batch: {{max_size: {cfg['batch_size']}, max_delay_ms: {cfg['delay']}}}
limits:
  max_body_bytes: {cfg['max_body']}
  max_pixels: {cfg['max_pixels']}
  max_dimension: 12000
  min_dimension: 8
  request_timeout_s: {cfg['timeout']}
  queue_depth: {cfg['queue_depth']}
{"  max_connections: %d" % cfg["max_connections"] if "max_connections" in cfg else ""}
{"  max_memory_mb: %d" % cfg["max_memory_mb"] if "max_memory_mb" in cfg else ""}
{"  idle_timeout_s: %d" % cfg["idle_timeout"] if "idle_timeout" in cfg else ""}
{"  read_timeout_s: %d" % cfg["read_timeout"] if "read_timeout" in cfg else ""}
{"  write_timeout_s: %d" % cfg["write_timeout"] if "write_timeout" in cfg else ""}
{"  drain_timeout_s: %d" % cfg["drain_timeout"] if "drain_timeout" in cfg else ""}
max_requests: {cfg['max_requests']}
log: {{level: info, format: json, file: {log}}}
{cfg.get("extra", "")}
""")


# nginx.conf around an http{} body: own prefix, pid and temp dirs.
NGINX_SHELL = """
worker_processes 1;
{user}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    proxy_temp_path {prefix}/tmp/proxy;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
{body}
}}
"""


def nginx_conf(prefix, body):
    user = "user root;" if os.getuid() == 0 else ""
    return NGINX_SHELL.format(prefix=prefix, user=user, body=body)


NGINX_BODY = """
    client_max_body_size 8m;
    upstream cutout {{
        server 127.0.0.1:{fport};
        keepalive {keepalive};
        keepalive_timeout 60s;  # < limits.idle_timeout_s, as fcgi/conf/nginx.conf
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            include /etc/nginx/fastcgi_params;
            fastcgi_pass cutout;
            fastcgi_keep_conn on;
            fastcgi_read_timeout 120s;
            # A kept connection closed by a draining worker just as nginx
            # reuses it: retry (POST /remove is a pure computation).
            fastcgi_next_upstream error timeout non_idempotent;
        }}
    }}"""


def start_nginx(prefix, port, fport, keepalive=4):
    os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(prefix, NGINX_BODY.format(port=port, fport=fport, keepalive=keepalive)))
    return Proc(["nginx", "-p", prefix, "-c", conf, "-g", "daemon off;"], os.path.join(prefix, "nginx.out"))


def master_status(port):
    st, _, data = request(port, "GET", "/status", timeout=10)
    return json.loads(data) if st == 200 else None


def ready_workers(port, generation=None):
    j = master_status(port)
    if not j:
        return []
    return [w for w in j["workers"] if w["state"] == "ready" and
            (generation is None or w["generation"] == generation)]


# ------------------------------------------------------------------ the tests


def make_images(tmp):
    from skimage import data as skdata
    photos = {}
    for name, arr in (("astronaut", skdata.astronaut()), ("chelsea", skdata.chelsea())):
        p = os.path.join(tmp, name + ".png")
        Image.fromarray(arr).save(p)
        photos[name] = p
    small = os.path.join(tmp, "small.png")  # alpha matting takes seconds per megapixel
    Image.fromarray(skdata.chelsea()).resize((150, 100), Image.BICUBIC).save(small)
    photos["small"] = small
    tiny = os.path.join(tmp, "tiny.png")
    Image.new("RGB", (4, 4), (200, 10, 10)).save(tiny)
    huge = os.path.join(tmp, "huge.png")  # 25 Mpx > max_pixels 20 M; a few kB as PNG
    Image.new("L", (5000, 5000), 128).save(huge)
    photos["tiny"], photos["huge"] = tiny, huge
    return photos


def cli(args, out):
    r = subprocess.run([CLI, "-b", "cpu", "-t", "1", "-q"] + args + ["-o", out], env=ENV,
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"cutout {args}: {r.stderr.decode()}")
    with open(out, "rb") as f:
        return f.read()


def test_photo_and_endpoints(port, photos, refs):
    astro = open(photos["astronaut"], "rb").read()
    st, h, body = request(port, "POST", "/remove", astro, {"Content-Type": "image/png"})
    check("POST /remove raw PNG -> 200 image/png", st == 200 and h.get("content-type") == "image/png",
          f"{st} {h.get('content-type')} {body[:200]!r}")
    if st == 200:
        ok, d = same_pixels(body, refs["astro"])
        check("/remove pixels == build/cutout on the same photo", ok, d)
        # The server deflates PNGs in parallel strips (4 here): a strict read.
        bad = png_stream_problem(body, 4)
        check("/remove PNG: chunk CRCs, one zlib stream, adler32 (Python zlib)", not bad, bad)
    check("X-Model: u2netp", h.get("x-model") == "u2netp", str(h.get("x-model")))
    check("X-Request-Id generated", re.fullmatch(r"[0-9a-f]{16}", h.get("x-request-id", "")) is not None,
          str(h.get("x-request-id")))
    stm = h.get("server-timing", "")
    check("Server-Timing has decode, infer, encode",
          all(re.search(k + r";dur=[0-9.]+", stm) for k in ("decode", "infer", "encode")), stm)

    st, h, body = request(port, "POST", "/remove", astro, {"X-Request-Id": "client-id-42"})
    check("incoming X-Request-Id kept", h.get("x-request-id") == "client-id-42", str(h.get("x-request-id")))

    body_mp, hd = multipart({"mask": "1"}, {"file": ("astronaut.png", astro)})
    st, h, body = request(port, "POST", "/remove", body_mp, hd)
    ok = st == 200
    if ok:
        ok, d = same_pixels(body, refs["astro_mask"])
    else:
        d = f"{st} {body[:200]!r}"
    check("multipart /remove mask=1 == cutout --mask", ok, d)

    st, h, body = request(port, "POST", "/remove?format=jpeg&quality=80&bg=%23ffffff", astro)
    check("/remove?format=jpeg -> image/jpeg", st == 200 and h.get("content-type") == "image/jpeg"
          and body[:2] == b"\xff\xd8", f"{st} {h.get('content-type')}")

    body_mp, hd = multipart({"om": "true"}, {"file": ("a.png", astro)})
    st, h, body = request(port, "POST", "/api/remove", body_mp, hd)
    ok = st == 200 and h.get("content-type") == "image/png"
    d = f"{st} {body[:200]!r}"
    if ok:
        ok, d = same_pixels(body, refs["astro_mask"])
    check("/api/remove om=true (rembg) == cutout --mask", ok, d)

    # Alpha matting: /remove's alpha_matting and rembg's a, with af/ab/ae, == the CLI.
    small = open(photos["small"], "rb").read()
    ref_am = cli(["--alpha-matting", "--af", "230", "--ab", "20", "--ae", "6", photos["small"]],
                 os.path.join(os.path.dirname(photos["small"]), "ref-am.png"))
    ref_plain = cli([photos["small"]], os.path.join(os.path.dirname(photos["small"]), "ref-plain.png"))
    check("cutout --alpha-matting differs from the plain cutout", not same_pixels(ref_am, ref_plain)[0], "")
    st, h, body = request(port, "POST", "/remove?alpha_matting=1&af=230&ab=20&ae=6", small)
    ok, d = same_pixels(body, ref_am) if st == 200 else (False, f"{st} {body[:200]!r}")
    check("/remove?alpha_matting=1&af=230&ab=20&ae=6 == cutout --alpha-matting --af 230 --ab 20 --ae 6",
          ok, d)
    body_mp, hd = multipart({"a": "true", "af": "230", "ab": "20", "ae": "6"}, {"file": ("s.png", small)})
    st, h, body = request(port, "POST", "/api/remove", body_mp, hd)
    ok, d = same_pixels(body, ref_am) if st == 200 else (False, f"{st} {body[:200]!r}")
    check("/api/remove a=true af=230 ab=20 ae=6 (rembg) == cutout --alpha-matting", ok, d)

    body_mp, hd = multipart({"bgc": "0,0,255,255"}, {"file": ("a.png", astro)})
    st, h, body = request(port, "POST", "/api/remove", body_mp, hd)
    ok = st == 200
    d = f"{st} {body[:200]!r}"
    if ok:
        ok, d = same_pixels(body, refs["astro_bg"])
    check("/api/remove bgc=0,0,255,255 == cutout --bg 0,0,255,255", ok, d)

    st, h, body = request(port, "GET", "/health")
    j = json.loads(body) if st == 200 else {}
    check("GET /health 200 ok", st == 200 and j.get("status") == "ok" and j.get("model") == "u2netp"
          and j.get("backend") == "cpu" and "device" in j, f"{st} {body!r}")
    st, h, body = request(port, "GET", "/models")
    j = json.loads(body) if st == 200 else {}
    check("GET /models 200: default u2netp, arch, input_size, description",
          st == 200 and h.get("content-type") == "application/json" and j.get("default") == "u2netp"
          and j.get("models") == [{"name": "u2netp", "arch": "u2netp", "input_size": 320,
                                   "description": "U²-Net small (4.7 MB): fast, general objects"}],
          f"{st} {body!r}")
    st, h, body = request(port, "GET", "/metrics")
    text = body.decode()
    m = re.search(r'^cutout_requests_total\{code="200"\} (\d+)$', text, re.M)
    check("GET /metrics Prometheus text with 200 count >= 6",
          st == 200 and h.get("content-type", "").startswith("text/plain") and m and int(m.group(1)) >= 6
          and "cutout_request_duration_seconds_bucket{le=\"+Inf\"}" in text, text[:300])
    st, h, body = request(port, "GET", "/status")
    j = json.loads(body) if st == 200 else {}
    ws = j.get("workers", [])
    check("GET /status: 2 ready workers with pids", st == 200 and len(ws) == 2 and
          all(w["state"] == "ready" and w["pid"] > 0 for w in ws), body[:300])


def test_errors(port, photos):
    astro = open(photos["astronaut"], "rb").read()
    cases = [
        ("400 bad format", "POST", "/remove?format=gif", astro, {}, 400, "bad_parameter"),
        ("400 bad quality", "POST", "/remove?format=jpeg&quality=500", astro, {}, 400, "bad_parameter"),
        ("400 bad bg colour", "POST", "/remove?bg=notacolour", astro, {}, 400, "bad_parameter"),
        ("400 alpha matting af over 255", "POST", "/remove?alpha_matting=1&af=300", astro, {}, 400,
         "bad_parameter"),
        ("400 alpha_matting not a boolean", "POST", "/remove?alpha_matting=maybe", astro, {}, 400,
         "bad_parameter"),
        ("400 unknown model", "POST", "/remove?model=../../etc/passwd", astro, {}, 400, "bad_parameter"),
        ("400 empty body", "POST", "/remove", b"", {}, 400, "bad_request"),
        ("400 multipart without file", "POST", "/remove", *multipart({"mask": "1"}, {}), 400, "bad_request"),
        ("400 malformed multipart", "POST", "/remove", b"--xyz\r\nbroken",
         {"Content-Type": "multipart/form-data; boundary=xyz"}, 400, "bad_request"),
        ("404 unknown path", "GET", "/nope", None, {}, 404, "not_found"),
        ("405 GET /remove", "GET", "/remove", None, {}, 405, "method_not_allowed"),
        ("405 GET /api/remove?url= (no URL fetching)", "GET", "/api/remove?url=http://127.0.0.1/x", None, {},
         405, "method_not_allowed"),
        ("413 body over max_body_bytes", "POST", "/remove", b"\x89PNG" + bytes(5 << 20), {}, 413, "too_large"),
        ("413 pixels over max_pixels", "POST", "/remove", open(photos["huge"], "rb").read(), {}, 413,
         "too_large"),
        ("415 not an image", "POST", "/remove", b"hello, this is text" * 10, {}, 415,
         "unsupported_media_type"),
        ("422 truncated PNG", "POST", "/remove", astro[:2000], {}, 422, "undecodable_image"),
        ("422 image below min_dimension", "POST", "/remove", open(photos["tiny"], "rb").read(), {}, 422,
         "image_too_small"),
    ]
    for name, method, path, body, hdrs, want, slug in cases:
        st, h, data = request(port, method, path, body, hdrs)
        check(f"{name} -> {want} JSON code={slug}",
              st == want and h.get("content-type") == "application/json" and is_error_json(data, slug),
              f"{st} {h.get('content-type')} {data[:200]!r}")
        if want == 405:
            check(f"{name}: Allow header", "POST" in h.get("allow", ""), str(h.get("allow")))
    # A bad request does not disturb the worker: the next good one works.
    st, _, _ = request(port, "POST", "/remove?mask=1", open(photos["chelsea"], "rb").read())
    check("good request after the bad ones -> 200", st == 200, str(st))


def established(fport):
    r = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{fport} )"], capture_output=True,
                       text=True, timeout=10)
    return len([line for line in r.stdout.splitlines() if line.strip()])


def test_keepalive(port, fport, photos, refs):
    cat = open(photos["chelsea"], "rb").read()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    codes = []
    for i in range(6):
        path = "/health" if i % 2 else "/remove?mask=1"
        st, _, data = request(port, "POST" if i % 2 == 0 else "GET", path, cat if i % 2 == 0 else None,
                              conn=conn)
        codes.append(st)
        if i == 0:
            first = data
    conn.close()
    check("6 sequential requests on one kept-alive connection -> 200", codes == [200] * 6, str(codes))
    ok, d = same_pixels(first, refs["cat_mask"])
    check("keepalive /remove mask == cutout --mask", ok, d)
    n = established(fport)
    check("nginx keeps FastCGI connections open (fastcgi_keep_conn)", n >= 1, f"{n} established")

    results = [None] * 32

    def one(i):
        try:
            results[i] = request(port, "POST", "/remove?mask=1", cat, timeout=120)
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = (0, {}, repr(e).encode())

    t = time.time()
    th = [threading.Thread(target=one, args=(i,)) for i in range(32)]
    for x in th:
        x.start()
    for x in th:
        x.join(180)
    dt = time.time() - t
    codes = [r[0] if r else 0 for r in results]
    check(f"32 concurrent /remove -> all 200 ({dt:.1f} s)", codes == [200] * 32, str(codes))
    # Batched forward passes give the same masks as one image at a time.
    # Tolerance: at most one 8-bit level anywhere (different GEMM blocking of
    # a batch may change float rounding; the mask is 8-bit after min-max).
    worst = 0
    for r in results:
        if r and r[0] == 200:
            _, a = pixels(r[2])
            _, b = pixels(refs["cat_mask"])
            worst = max(worst, int(np.abs(a.astype(int) - b.astype(int)).max()))
    check("32 concurrent masks within 1 level of cutout --mask", worst <= 1, f"max diff {worst}")
    st, _, body = request(port, "GET", "/metrics")
    m = re.search(r"^cutout_batches_total (\d+)$", body.decode(), re.M)
    m2 = re.search(r"^cutout_batch_images_total (\d+)$", body.decode(), re.M)
    check("batching happened (images per forward pass > 1)", m and m2 and int(m2.group(1)) > int(m.group(1)),
          f"{m and m.group(1)} batches, {m2 and m2.group(1)} images")
    for x in th:
        x.join(1)


def test_kill_worker(port, srv_log, photos):
    ws = ready_workers(port)
    if not check("kill -9: 2 ready workers before", len(ws) == 2, str(ws)):
        return
    victim = ws[0]["pid"]
    os.kill(victim, signal.SIGKILL)
    got = wait_for(lambda: (lambda w: len(w) == 2 and victim not in [x["pid"] for x in w])(ready_workers(port)),
                   30, 0.2)
    check("kill -9 of a worker: replaced within 30 s", got, str(ready_workers(port)))
    cat = open(photos["chelsea"], "rb").read()
    codes = [request(port, "POST", "/remove?mask=1", cat)[0] for _ in range(4)]
    check("requests after the kill -> 200", codes == [200] * 4, str(codes))
    log = open(srv_log, errors="replace").read()
    check("the crash is logged", f"worker {victim} died by signal 9" in log, "")
    st, _, body = request(port, "GET", "/metrics")
    check("cutout_worker_restarts_total >= 1", re.search(r"^cutout_worker_restarts_total [1-9]", body.decode(), re.M)
          is not None, "")


def json_lines(path):
    """The JSON lines of a log file ([] if it does not exist)."""
    try:
        text = open(path, errors="replace").read()
    except FileNotFoundError:
        return []
    out = []
    for x in text.splitlines():
        try:
            out.append(json.loads(x))
        except ValueError:
            pass
    return out


def test_log_reopen(port, srv, srv_log, photos):
    """logrotate: rename the file, SIGUSR1 the master; new lines (access
    lines of the workers included) go to a new file at the configured path,
    none to the renamed one."""
    rotated = srv_log + ".1"
    workers = {w["pid"] for w in ready_workers(port)}
    os.rename(srv_log, rotated)
    os.kill(srv.p.pid, signal.SIGUSR1)

    def reopened():
        lines = json_lines(srv_log)
        master = any(x.get("role") == "master" and "reopened" in x.get("msg", "") for x in lines)
        done = {x["pid"] for x in lines if x.get("role") == "worker" and x.get("msg") == "SIGUSR1: log file reopened"}
        return master and workers <= done

    ok = wait_for(reopened, 10, 0.05)
    check(f"SIGUSR1: master and its {len(workers)} workers reopen the log at its path", ok and len(workers) == 2,
          f"workers {workers}; new file: {[x.get('msg') for x in json_lines(srv_log)][:8]}")
    size = os.path.getsize(rotated)
    ids = [f"rotate-{uuid.uuid4().hex[:12]}-{i}" for i in range(6)]
    codes = [request(port, "POST", "/remove?mask=1", open(photos["chelsea"], "rb").read(), {"X-Request-Id": ids[0]})[0]]
    codes += [request(port, "GET", "/health", headers={"X-Request-Id": i})[0] for i in ids[1:]]
    check("requests after SIGUSR1 -> 200", codes == [200] * len(ids), str(codes))
    # The access line is written by the worker around the time the response
    # leaves: wait (bounded) for it rather than race it.
    got = wait_for(lambda: set(ids) <= {x.get("id") for x in json_lines(srv_log) if x.get("msg") == "access"}, 5)
    check("SIGUSR1: the new file has the access lines of the requests made after it", got,
          f"{len(json_lines(srv_log))} lines in the new file")
    old = open(rotated, errors="replace").read()
    check("SIGUSR1: the renamed file gets no new lines", os.path.getsize(rotated) == size and
          not any(i in old for i in ids), f"{size} -> {os.path.getsize(rotated)} bytes")


def test_reload_and_overload(port, srv, cfg_path, fport, srv_log, photos):
    """SIGHUP: a new generation (1 worker, queue_depth 2, no batching) takes
    over while requests keep flowing; then a burst overflows its queue."""
    cat = open(photos["chelsea"], "rb").read()
    # A bad file is refused and the running pool keeps going.
    with open(cfg_path, "a") as f:
        f.write("bogus_key: 1\n")
    os.kill(srv.p.pid, signal.SIGHUP)
    time.sleep(1)
    log = open(srv_log, errors="replace").read()
    j = master_status(port)
    check("SIGHUP with an unknown key: not reloaded, error names file:line:col",
          re.search(r"configuration not reloaded: [^ ]*cutout.yaml:\d+:1: unknown key 'bogus_key'", log) and
          j["pool"]["generation"] == 1 and len(ready_workers(port)) == 2, log[-300:])
    stop = threading.Event()
    codes = []

    def traffic():
        while not stop.is_set() and len(codes) < 400:
            try:
                codes.append(request(port, "POST", "/remove?mask=1", cat, timeout=60)[0])
            except Exception as e:  # noqa: BLE001
                codes.append(repr(e))

    th = [threading.Thread(target=traffic) for _ in range(2)]
    for x in th:
        x.start()
    time.sleep(0.5)
    old = {w["pid"] for w in ready_workers(port)}
    write_config(cfg_path, fport, srv_log, workers=1, threads=8, queue_depth=2, batch_size=1, delay=0)
    os.kill(srv.p.pid, signal.SIGHUP)
    switched = wait_for(lambda: (lambda w: len(w) == 1 and w[0]["pid"] not in old)(ready_workers(port, 2)) and
                        not (old & {w["pid"] for w in master_status(port)["workers"]}), 60, 0.2)
    time.sleep(0.5)
    stop.set()
    for x in th:
        x.join(120)
    check("SIGHUP: new generation replaced the old workers", switched, str(master_status(port)))
    check(f"SIGHUP: no request dropped during the reload ({len(codes)} requests)",
          len(codes) > 0 and all(c == 200 for c in codes), str([c for c in codes if c != 200][:5]))

    results = []
    lock = threading.Lock()

    def one():
        try:
            r = request(port, "POST", "/remove?mask=1", cat, timeout=120)
        except Exception as e:  # noqa: BLE001
            r = (0, {}, repr(e).encode())
        with lock:
            results.append(r)

    th = [threading.Thread(target=one) for _ in range(8)]
    for x in th:
        x.start()
    for x in th:
        x.join(180)
    codes = sorted(r[0] for r in results)
    busy = [r for r in results if r[0] == 503]
    check("queue full -> some 503, the rest 200", busy and all(c in (200, 503) for c in codes) and 200 in codes,
          str(codes))
    if busy:
        st, h, data = busy[0]
        check("503 has Retry-After and JSON code=overloaded", h.get("retry-after") == "1" and
              is_error_json(data, "overloaded"), f"{h} {data!r}")


def test_drain(port, srv, photos):
    astro = open(photos["astronaut"], "rb").read()
    out = {}

    def slow():
        out["r"] = request(port, "POST", "/remove?post_process=1", astro, timeout=120)

    t = threading.Thread(target=slow)
    t.start()
    # SIGTERM once the request is in flight in the worker.
    wait_for(lambda: sum(w["inflight"] for w in master_status(port)["workers"]) >= 2, 10, 0.01)
    os.kill(srv.p.pid, signal.SIGTERM)
    t.join(120)
    st = out.get("r", (0,))[0]
    check("SIGTERM drains: the in-flight request completes with 200", st == 200, str(out.get("r", ("none",))[:2]))
    try:
        srv.p.wait(60)
    except subprocess.TimeoutExpired:
        pass
    check("SIGTERM: master exits 0 after draining", srv.p.returncode == 0, str(srv.p.returncode))


# ------------------------------------------------------------------ more connections than threads


def test_keepalive_fairness(tmp, photos, refs=None):
    """More kept-alive FastCGI connections than request threads: 1 worker x
    2 threads behind nginx (upstream keepalive 8, fastcgi_keep_conn), 8
    clients each on its own kept-alive HTTP connection sending requests
    back to back for WINDOW s. nginx needs one FastCGI connection per
    request in flight, so it opens 8; every one of them must be served while
    the load lasts. (The bug this guards against: each thread kept serving
    its own busy kept connection, and the other 6 connections got no answer
    until the load stopped.)"""
    clients, window = 8, 10.0
    fport, port = free_port(), free_port()
    prefix = os.path.join(tmp, "fairness")
    os.makedirs(prefix, exist_ok=True)
    cfg, log = os.path.join(prefix, "cutout.yaml"), os.path.join(prefix, "server.log")
    write_config(cfg, fport, log, workers=1, threads=2, batch_size=2, delay=5)
    srv = Proc([FCGI, "--config", cfg], os.path.join(prefix, "server.out"))
    web = start_nginx(os.path.join(prefix, "nginx"), port, fport, keepalive=clients)
    cat = open(photos["chelsea"], "rb").read()
    try:
        up = wait_for(lambda: len(ready_workers(port)) == 1, 30)
        if not check("fairness: nginx + cutout-fcgi (1 worker x 2 threads) up", up,
                     open(os.path.join(prefix, "server.out"), errors="replace").read()[-500:]):
            return
        request(port, "POST", "/remove?mask=1", cat)  # warm-up: the first batch plans memory
        done = [[] for _ in range(clients)]  # per client: (start, end, status)
        t0 = time.time()
        t_end = t0 + window

        def client(i):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            try:
                while time.time() < t_end:
                    s = time.time()
                    try:
                        st = request(port, "POST", "/remove?mask=1", cat, conn=conn)[0]
                    except Exception as e:  # noqa: BLE001 - reported below
                        st = repr(e)
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                    done[i].append((s, time.time(), st))
            finally:
                conn.close()

        th = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for x in th:
            x.start()
        for x in th:
            x.join(180)
        elapsed = time.time() - t0
        allr = [r for d in done for r in d]
        codes = [r[2] for r in allr]
        check(f"fairness: {len(allr)} requests from {clients} kept-alive clients -> all 200",
              allr and all(c == 200 for c in codes), str([c for c in codes if c != 200][:5]))
        # Served while the load lasted: with requests answered in arrival
        # order every client gets about 1/8 of the answers (here dozens in
        # all); 2 each is far below that and far above the starved 0.
        within = [sum(1 for s, e, st in d if e <= t_end and st == 200) for d in done]
        check(f"fairness: every client answered at least twice during the {window:.0f} s load",
              min(within) >= 2, f"answers per client {within}")
        # Latency bound: in arrival order a request waits for at most the
        # other clients' requests, about clients / throughput; 3x that + 1 s
        # leaves room for batching and a busy machine. A starved request
        # waits for the end of the load (~window).
        rate = len(allr) / elapsed
        bound = 3.0 * clients / rate + 1.0
        worst = max(e - s for s, e, _ in allr) if allr else 0
        check(f"fairness: slowest request {worst:.1f} s <= {bound:.1f} s (3 x {clients} clients / "
              f"{rate:.1f} req/s + 1 s)", allr and worst <= bound, "")
        j = master_status(port)
        conns = j["workers"][0].get("connections", 0) if j and j["workers"] else 0
        check("fairness: the worker holds more FastCGI connections than threads (/status connections > 2)",
              conns > 2, str(conns))
    finally:
        web.stop()
        srv.stop()


# ------------------------------------------------------------------ request_timeout_s, watchdog

HANG_GRACE_S = 5.0  # fcgi/main.c: the watchdog kills after request_timeout_s + this


def test_timeouts_and_watchdog(tmp, photos, refs=None):
    """request_timeout_s 1 on 1 worker: a burst that needs several seconds of
    forward passes gets 504 JSON for the requests past their deadline; then
    SIGSTOP of the worker: the master sees its inference thread's heartbeat
    go stale, kills it after request_timeout_s + grace (not before), replaces
    it, and later requests succeed."""
    timeout = 1
    fport, port = free_port(), free_port()
    prefix = os.path.join(tmp, "watchdog")
    os.makedirs(prefix, exist_ok=True)
    cfg, log = os.path.join(prefix, "cutout.yaml"), os.path.join(prefix, "server.log")
    write_config(cfg, fport, log, workers=1, threads=4, batch_size=1, delay=0, timeout=timeout,
                 queue_depth=64)
    srv = Proc([FCGI, "--config", cfg], os.path.join(prefix, "server.out"))
    web = start_nginx(os.path.join(prefix, "nginx"), port, fport)
    astro = open(photos["astronaut"], "rb").read()
    cat = open(photos["chelsea"], "rb").read()
    try:
        up = wait_for(lambda: len(ready_workers(port)) == 1, 30)
        if not check("watchdog: nginx + cutout-fcgi (1 worker, request_timeout_s 1) up", up,
                     open(os.path.join(prefix, "server.out"), errors="replace").read()[-500:]):
            return
        request(port, "POST", "/remove?mask=1", cat)  # warm-up

        # 32 at once, one forward pass each (batch 1): seconds of work for a
        # 1 s deadline. Each answer is a 200 or a 504 timeout, nothing else.
        results = [None] * 32

        def one(i):
            try:
                results[i] = request(port, "POST", "/remove", astro, timeout=60)
            except Exception as e:  # noqa: BLE001 - reported below
                results[i] = (repr(e), {}, b"")

        th = [threading.Thread(target=one, args=(i,)) for i in range(len(results))]
        for x in th:
            x.start()
        for x in th:
            x.join(90)
        codes = [r[0] if r else None for r in results]
        late = [r for r in results if r and r[0] == 504]
        check("request_timeout_s: a burst past the deadline -> only 200 or 504",
              all(c in (200, 504) for c in codes), str(codes))
        check(f"request_timeout_s: the requests past the deadline -> 504 JSON code=timeout ({len(late)} of 32)",
              late and all(is_error_json(r[2], "timeout") and r[1].get("content-type") == "application/json"
                           for r in late), str(codes))
        st, _, body = request(port, "GET", "/metrics")
        m = re.search(r'^cutout_requests_total\{code="504"\} (\d+)$', body.decode(), re.M)
        m2 = re.search(r"^cutout_timeouts_total (\d+)$", body.decode(), re.M)
        check("request_timeout_s: /metrics counts the 504s (requests_total{code=504}, timeouts_total)",
              m and m2 and int(m.group(1)) == len(late) and int(m2.group(1)) >= len(late),
              f"{m and m.group(0)} {m2 and m2.group(0)}")

        # Idle first: a forward pass a 504 left running would make the
        # heartbeat older than the stop.
        idle = wait_for(lambda: (lambda w: len(w) == 1 and w[0]["forward_pass_s"] is None and
                                 w[0]["queued"] == 0)(ready_workers(port)), 60, 0.05)
        check("watchdog: the worker is idle before the stop (forward_pass_s null)", idle, str(master_status(port)))
        victim = ready_workers(port)[0]["pid"]
        os.kill(victim, signal.SIGSTOP)
        t_stop = time.time()
        inflight = {}

        def during():
            s = time.time()
            try:
                inflight["r"] = (request(port, "POST", "/remove?mask=1", cat, timeout=60)[0], time.time() - s)
            except Exception as e:  # noqa: BLE001
                inflight["r"] = (repr(e), time.time() - s)

        t = threading.Thread(target=during)
        t.start()

        def kill_line():  # "no heartbeat ..." or, stopped mid-pass, "forward pass running ..."
            for x in json_lines(log):
                msg = x.get("msg", "")
                if x.get("role") == "master" and msg.startswith(f"worker {victim}: ") and "killing it" in msg:
                    return x
            return None

        # Not before the limit: the last beat came at most 1 s (the idle beat
        # interval) before the stop, or at the start of a pass running then.
        # Not much after it: the master looks every 0.2 s.
        limit = timeout + HANG_GRACE_S
        line = wait_for(kill_line, limit + 15, 0.05)
        waited = time.time() - t_stop
        check(f"watchdog: a stopped worker is killed after its heartbeat is stale for request_timeout_s + "
              f"{HANG_GRACE_S:.0f} s ({waited:.1f} s, limit {limit:.0f} s)",
              line is not None and limit - 1.5 <= waited <= limit + 3, str(line))
        replaced = wait_for(lambda: (lambda w: len(w) == 1 and w[0]["pid"] != victim)(ready_workers(port)), 30, 0.2)
        check("watchdog: the killed worker is replaced", replaced, "")
        logtext = open(log, errors="replace").read()
        check("watchdog: its death is logged (signal 9) and counted (cutout_worker_hangs_total 1)",
              f"worker {victim} died by signal 9" in logtext and
              re.search(r"^cutout_worker_hangs_total 1$", request(port, "GET", "/metrics")[2].decode(), re.M),
              "")
        t.join(70)  # first: the request held by the stopped worker would share the new one's passes
        r = inflight.get("r", ("none", 0))
        check(f"watchdog: the request sent to the stopped worker got an answer ({r[0]} after {r[1]:.1f} s)",
              isinstance(r[0], int), str(r))
        codes = [request(port, "POST", "/remove?mask=1", cat, timeout=60)[0] for _ in range(3)]
        check("watchdog: requests after the replacement -> 200", codes == [200] * 3, str(codes))
    finally:
        web.stop()
        srv.stop()


# ------------------------------------------------------------------ systemd socket activation

SOCKET_ACTIVATE = "/usr/bin/systemd-socket-activate"


def test_socket_activation(tmp, photos, refs):
    """systemd socket activation as fcgi/conf/cutout-fcgi.socket sets it up,
    with systemd-socket-activate standing in for systemd: it binds the
    socket, waits for the first connection, and execs cutout-fcgi (no
    listen: in its file) with the socket as fd 3 and LISTEN_FDS/LISTEN_PID.
    nginx in front; that first request and the next are answered; SIGTERM
    stops it cleanly."""
    if not check("systemd: systemd-socket-activate is installed", os.access(SOCKET_ACTIVATE, os.X_OK),
                 SOCKET_ACTIVATE):
        return
    fport, port = free_port(), free_port()
    prefix = os.path.join(tmp, "systemd")
    os.makedirs(prefix, exist_ok=True)
    cfg, log = os.path.join(prefix, "cutout.yaml"), os.path.join(prefix, "server.log")
    write_config(cfg, fport, log, workers=1, threads=2, fd0=True)  # no listen: key
    srv = Proc([SOCKET_ACTIVATE, "-l", f"127.0.0.1:{fport}", "--", FCGI, "--config", cfg],
               os.path.join(prefix, "server.out"))
    web = start_nginx(os.path.join(prefix, "nginx"), port, fport)
    try:
        # The socket exists before cutout-fcgi runs: the first request waits
        # in its backlog while the server starts.
        # (ss, not a connection: a connection would start it.)
        def listening():
            r = subprocess.run(["ss", "-Hltn", f"( sport = :{fport} )"], capture_output=True, text=True, timeout=10)
            return r.stdout.strip() != ""

        up = wait_for(listening, 10, 0.05)
        check("systemd: the socket listens before cutout-fcgi starts", up and not os.path.exists(log), "")
        astro = open(photos["astronaut"], "rb").read()
        st, h, body = request(port, "POST", "/remove", astro, timeout=60)
        ok, d = (same_pixels(body, refs["astro"]) if st == 200 else (False, f"{st} {body[:200]!r}"))
        check("systemd: the first request (it started the server) -> pixels == build/cutout", ok, d)
        j = master_status(port)
        check("systemd: cutout-fcgi serves the socket it got as fd 3 (LISTEN_FDS), in systemd-socket-activate's "
              "place (same pid)", j and j["pool"]["listen"] == "systemd:fd3" and
              j["pool"]["master_pid"] == srv.p.pid, str(j and j["pool"]))
        rc = srv.stop()
        check("systemd: SIGTERM -> exits 0", rc == 0, str(rc))
    finally:
        web.stop()
        srv.stop()


# ------------------------------------------------------------------ several backends

UPSTREAM_EXAMPLE = os.path.join(ROOT, "fcgi", "conf", "nginx-upstream.conf")



def upstream_conf(prefix, port, fports):
    """fcgi/conf/nginx-upstream.conf itself, with its two example backends
    moved to 127.0.0.1 ports and its listen port made free; None if the
    example no longer has the lines this substitutes (the test then fails)."""
    text = open(UPSTREAM_EXAMPLE).read()
    subs = [("10.0.0.11:9000", f"127.0.0.1:{fports[0]}"), ("10.0.0.12:9000", f"127.0.0.1:{fports[1]}"),
            ("listen 80;", f"listen 127.0.0.1:{port};"),
            ("include fastcgi_params;", "include /etc/nginx/fastcgi_params;")]
    for old, new in subs:
        if old not in text:
            return None
        text = text.replace(old, new)
    return nginx_conf(prefix, text)


def children_of(pid):
    """PIDs whose parent is pid (from /proc/*/stat)."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid ...
        if int(fields[1]) == pid:
            kids.append(int(d))
    return kids


def gone(pid):
    """No such process, or a zombie nobody reaped yet (it runs no code)."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def refuses(fport):
    try:
        socket.create_connection(("127.0.0.1", fport), timeout=2).close()
        return False
    except OSError:
        return True


def served_by(port, path="/status"):
    """The listen address of the backend that answered (its /status)."""
    st, _, body = request(port, "GET", path, timeout=30)
    return json.loads(body)["pool"]["listen"] if st == 200 else f"HTTP {st}"


def test_upstream(tmp, photos, refs):
    """nginx (fcgi/conf/nginx-upstream.conf) over two cutout-fcgi backends on
    loopback; one is SIGKILLed whole (master and workers): the next requests
    all succeed through the other."""
    fports, port = [free_port(), free_port()], free_port()
    prefix = os.path.join(tmp, "upstream")
    os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
    srvs = []
    for k, fp in enumerate(fports):
        cfg, log = os.path.join(prefix, f"backend{k}.yaml"), os.path.join(prefix, f"backend{k}.log")
        write_config(cfg, fp, log, workers=1, threads=2, batch_size=1, delay=0)
        srvs.append(Proc([FCGI, "--config", cfg], os.path.join(prefix, f"backend{k}.out")))
    conf_text = upstream_conf(prefix, port, fports)
    if not check("fcgi/conf/nginx-upstream.conf has the example backends and listen to substitute",
                 conf_text is not None, UPSTREAM_EXAMPLE):
        for x in srvs:
            x.stop()
        return
    conf = os.path.join(prefix, "nginx.conf")
    open(conf, "w").write(conf_text)
    web = Proc(["nginx", "-p", prefix, "-c", conf, "-g", "daemon off;"], os.path.join(prefix, "nginx.out"))
    cat = open(photos["chelsea"], "rb").read()
    try:
        up = wait_for(lambda: all(request(port, "GET", f"/cutout-backend/{k + 1}/health", timeout=5)[0] == 200
                                  for k in range(2)), 30)
        if not check("upstream: nginx + 2 cutout-fcgi backends up", up,
                     open(os.path.join(prefix, "error.log"), errors="replace").read()[-500:]
                     if os.path.exists(os.path.join(prefix, "error.log")) else ""):
            return
        own = [served_by(port, f"/cutout-backend/{k + 1}/status") for k in range(2)]
        check("upstream: /cutout-backend/N/status reaches backend N",
              own == [f"127.0.0.1:{fp}" for fp in fports], str(own))
        results = [request(port, "POST", "/remove?mask=1", cat) for _ in range(4)]
        ok = all(r[0] == 200 for r in results)
        d = str([r[0] for r in results])
        if ok:
            ok, d = same_pixels(results[0][2], refs["cat_mask"])
        check("upstream: 4 /remove through the pool -> 200, mask == cutout --mask", ok, d)
        seen = {served_by(port) for _ in range(4)}
        check("upstream: round robin reaches both backends", seen == {f"127.0.0.1:{fp}" for fp in fports},
              str(seen))

        # SIGKILL the first backend whole: its master first (so that it
        # cannot start replacements), then its workers.
        victim = srvs[0]
        workers = children_of(victim.p.pid)
        for pid in [victim.p.pid] + workers:
            os.kill(pid, signal.SIGKILL)
        victim.p.wait(10)
        dead = wait_for(lambda: all(gone(w) for w in workers) and refuses(fports[0]), 10, 0.05)
        check(f"upstream: backend 1 killed (master + {len(workers)} workers gone, port refuses)",
              dead and len(workers) == 1, f"workers {workers}")
        t = time.time()
        after = []
        for _ in range(10):
            try:
                after.append(request(port, "POST", "/remove?mask=1", cat, timeout=60)[0])
            except Exception as e:  # noqa: BLE001 - reported below
                after.append(repr(e))
        check(f"upstream: 10 /remove after the kill -> all 200 ({time.time() - t:.1f} s)",
              after == [200] * 10, str(after))
        seen = {served_by(port) for _ in range(4)}
        check("upstream: the survivor answers", seen == {f"127.0.0.1:{fports[1]}"}, str(seen))
        err = open(os.path.join(prefix, "error.log"), errors="replace").read()
        check("upstream: nginx tried the dead backend and moved on (error.log)",
              f"127.0.0.1:{fports[0]}" in err, err[-300:])
    finally:
        web.stop()
        for x in srvs:
            x.stop()


# ------------------------------------------------------------------ other servers


LIGHTTPD_CONF = """
server.document-root = "{prefix}"
server.bind = "127.0.0.1"
server.port = {port}
server.pid-file = "{prefix}/lighttpd.pid"
server.errorlog = "{prefix}/error.log"
server.modules += ( "mod_access", "mod_fastcgi" )
server.max-request-size = 8192
{admin}
fastcgi.server = ( "/" => ((
    "host" => "127.0.0.1", "port" => {fport}, "check-local" => "disable", "fix-root-scriptname" => "enable"
)) )
"""

APACHE_CONF = """
ServerRoot "/usr/lib/apache2"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {prefix}/httpd.pid
ErrorLog {prefix}/error.log
LogLevel warn
{user}
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so
LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so
LoadModule proxy_fcgi_module /usr/lib/apache2/modules/mod_proxy_fcgi.so
DocumentRoot {prefix}
ProxyPass "/" "fcgi://127.0.0.1:{fport}/" enablereuse=on ttl=60
{admin}
"""


def shipped_admin_block(name):
    """The block of fcgi/conf/NAME.conf that keeps /status and /metrics local."""
    text = open(os.path.join(ROOT, "fcgi", "conf", f"{name}.conf")).read()
    pat = r'^\$HTTP\["url"\] =~ "\^/\(status\|metrics\)\$" \{.*?^\}' if name == "lighttpd" else \
        r"^<LocationMatch .*?^</LocationMatch>"
    m = re.search(pat, text, re.M | re.S)
    assert m, f"no admin block in fcgi/conf/{name}.conf"
    return m.group(0)


def other_server(name, tmp, photos, refs):
    fport, port = free_port(), free_port()
    cfg, log = os.path.join(tmp, f"{name}.yaml"), os.path.join(tmp, f"{name}-server.log")
    # lighttpd's worker is recycled every 5 requests (max_requests).
    write_config(cfg, fport, log, workers=1, threads=2, max_requests=5 if name == "lighttpd" else 0,
                 fd0=name == "lighttpd")
    if name == "lighttpd":
        # spawn-fcgi binds the socket and passes it as fd 0 (no listen: key);
        # -n: it execs cutout-fcgi in its own place, so the PID is the master's.
        srv = Proc(["spawn-fcgi", "-n", "-a", "127.0.0.1", "-p", str(fport), "--", FCGI, "--config", cfg],
                   os.path.join(tmp, f"{name}-server.out"))
    else:
        srv = Proc([FCGI, "--config", cfg], os.path.join(tmp, f"{name}-server.out"))
    prefix = os.path.join(tmp, name)
    os.makedirs(prefix, exist_ok=True)
    if name == "lighttpd":
        conf = os.path.join(prefix, "lighttpd.conf")
        open(conf, "w").write(LIGHTTPD_CONF.format(prefix=prefix, port=port, fport=fport,
                                                   admin=shipped_admin_block("lighttpd")))
        web = Proc(["lighttpd", "-D", "-f", conf], os.path.join(prefix, "out"))
    else:
        conf = os.path.join(prefix, "httpd.conf")
        user = "User www-data\nGroup www-data" if os.getuid() == 0 else ""
        open(conf, "w").write(APACHE_CONF.format(prefix=prefix, port=port, fport=fport, user=user,
                                                 admin=shipped_admin_block("apache")))
        web = Proc(["apache2", "-f", conf, "-DFOREGROUND"], os.path.join(prefix, "out"),)
    try:
        up = wait_for(lambda: request(port, "GET", "/health", timeout=5)[0] == 200, 30)
        if name == "lighttpd":
            st, _, body = request(port, "GET", "/status")
            check("spawn-fcgi: cutout-fcgi serves the socket it got as fd 0",
                  st == 200 and json.loads(body)["pool"]["listen"] == "fd:0", body[:200])
        if not check(f"{name}: /health through {name}", up, open(os.path.join(prefix, "error.log"), errors="replace").read()[-500:]
                     if os.path.exists(os.path.join(prefix, "error.log")) else ""):
            return
        got = {(a, p): get_from(a, port, p) for a in ("127.0.0.1", "127.0.0.2")
               for p in ("/status", "/metrics", "/x/status/")}
        check(f"{name}: the shipped admin block: /status, /metrics 200 from 127.0.0.1, 403 from "
              "127.0.0.2; /x/status/ 404", got == {
                  ("127.0.0.1", "/status"): 200, ("127.0.0.1", "/metrics"): 200,
                  ("127.0.0.2", "/status"): 403, ("127.0.0.2", "/metrics"): 403,
                  ("127.0.0.1", "/x/status/"): 404, ("127.0.0.2", "/x/status/"): 404}, str(got))
        astro = open(photos["astronaut"], "rb").read()
        st, h, body = request(port, "POST", "/remove", astro, {"Content-Type": "image/png"})
        ok = st == 200
        d = f"{st} {body[:200]!r}"
        if ok:
            ok, d = same_pixels(body, refs["astro"])
        check(f"{name}: /remove pixels == build/cutout", ok, d)
        body_mp, hd = multipart({"om": "true"}, {"file": ("a.png", astro)})
        st, h, body = request(port, "POST", "/api/remove", body_mp, hd)
        ok = st == 200
        d = f"{st} {body[:200]!r}"
        if ok:
            ok, d = same_pixels(body, refs["astro_mask"])
        check(f"{name}: /api/remove om=true == cutout --mask", ok, d)
        st, h, body = request(port, "GET", "/nope")
        check(f"{name}: 404 JSON", st == 404 and is_error_json(body, "not_found"), f"{st} {body[:200]!r}")
        if name == "lighttpd":
            codes = []
            for _ in range(12):
                codes.append(request(port, "GET", "/health")[0])
            check("max_requests: 12 more requests across recycles -> 200", codes == [200] * 12, str(codes))
            # A worker at max_requests serves on until its replacement is
            # ready (a model load), then drains: recycles are counted then.
            def recycles(at_least):
                for _ in range(6):  # brings the worker serving now to max_requests
                    codes.append(request(port, "GET", "/health")[0])
                body = request(port, "GET", "/metrics")[2].decode()
                m = re.search(r"^cutout_worker_recycles_total (\d+)$", body, re.M)
                return int(m.group(1)) >= at_least and m.group(0)

            seen = wait_for(lambda: recycles(1), 30, 0.5) and wait_for(lambda: recycles(2), 30, 0.5)
            check("max_requests=5: worker recycled (cutout_worker_recycles_total >= 2)", seen, str(seen))
            check("max_requests: every request across the recycles -> 200", set(codes) == {200},
                  str([c for c in codes if c != 200][:5]))
    finally:
        web.stop()
        srv.stop()


def get_from(addr, port, path):
    """GET path with the client socket bound to addr (Linux routes all of
    127/8 to lo): the web server sees REMOTE_ADDR = addr."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(addr, 0))
    try:
        return request(port, "GET", path, conn=conn)[0]
    finally:
        conn.close()


def vm_kb(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def shipped_nginx_conf(prefix, port, fport):
    """fcgi/conf/nginx.conf itself, pointed at this test's ports and files."""
    text = open(os.path.join(ROOT, "fcgi", "conf", "nginx.conf")).read()
    for a, b in (("server 127.0.0.1:9000;", f"server 127.0.0.1:{fport};"),
                 ("listen 80;", f"listen 127.0.0.1:{port};"),
                 ("root /usr/local/share/cutout/web;", f"root {os.path.join(ROOT, 'web')};"),
                 ("include fastcgi_params;", "include /etc/nginx/fastcgi_params;")):
        assert a in text, a
        text = text.replace(a, b)
    return nginx_conf(prefix, text)


def test_hardening(tmp, photos, refs=None):
    """Decode bombs (test_image_io --write-bombs: a 5 KB PNG and a 2 KB
    animated WebP declaring 40-42 Mpixel, a 65 KB JPEG cycling 631 scans)
    on one worker with limits.max_memory_mb 300: 413/422 in bounded time and
    the worker's peak RSS (VmHWM) grows by less than the budget; a photo
    still works. admin.allow [127.0.0.1/32]: /status and /metrics 200 from
    127.0.0.1, 404 from 127.0.0.2; /x/status 404; the shipped nginx.conf
    keeps /status local; a unix socket is created 0660."""
    prefix = os.path.join(tmp, "hardening")
    os.makedirs(prefix, exist_ok=True)
    r = subprocess.run([os.path.join(BUILD, "tests", "test_image_io"), "--write-bombs", prefix],
                       capture_output=True, text=True, timeout=120)
    if not check("hardening: bomb files written", r.returncode == 0, r.stderr):
        return
    fport, port = free_port(), free_port()
    cfg, log = os.path.join(prefix, "cutout.yaml"), os.path.join(prefix, "server.log")
    write_config(cfg, fport, log, workers=1, max_pixels=50000000, max_memory_mb=300,
                 extra="admin: {allow: [127.0.0.1/32]}")
    srv = Proc([FCGI, "--config", cfg], os.path.join(prefix, "server.out"))
    web = start_nginx(os.path.join(prefix, "nginx"), port, fport)
    try:
        if not check("hardening: server up", wait_for(lambda: len(ready_workers(port)) == 1, 60)):
            return
        pid = ready_workers(port)[0]["pid"]
        hwm0 = vm_kb(pid, "VmHWM")
        for name, want in (("bomb.png", 413), ("bomb.webp", 413), ("scans.jpg", 422)):
            data = open(os.path.join(prefix, name), "rb").read()
            t = time.time()
            st, _, body = request(port, "POST", "/remove", body=data,
                                  headers={"Content-Type": "application/octet-stream"})
            dt = time.time() - t
            check(f"bomb {name} ({len(data)} bytes): {st} (want {want}) in {dt:.2f} s (< 10 s)",
                  st == want and dt < 10 and is_error_json(body), body[:300])
            if want == 413:
                check(f"bomb {name}: the 413 names limits.max_memory_mb: "
                      f"{json.loads(body).get('error') if is_error_json(body) else body[:100]}",
                      b"limits.max_memory_mb" in body, body[:300])
        # Two scan bombs at once need about 2 x 251 MB by their headers: the
        # second waits for the first's memory instead of being refused.
        data = open(os.path.join(prefix, "scans.jpg"), "rb").read()
        res = [None, None]

        def post(i):
            res[i] = request(port, "POST", "/remove", body=data,
                             headers={"Content-Type": "application/octet-stream"})[0]
        th = [threading.Thread(target=post, args=(i,)) for i in range(2)]
        t = time.time()
        for x in th:
            x.start()
        for x in th:
            x.join(60)
        check(f"two scan bombs at once over a budget for one: both 422 in {time.time() - t:.2f} s "
              "(the second waited for memory)", res == [422, 422], str(res))
        grown = (vm_kb(pid, "VmHWM") - hwm0) / 1024
        check(f"bombs: the worker's peak RSS grew by {grown:.0f} MB (< the 300 MB budget)",
              0 <= grown < 300, f"VmHWM {hwm0} kB before")
        st, _, _ = request(port, "POST", "/remove", body=open(photos["astronaut"], "rb").read())
        check("hardening: a photo is still answered 200 under the budget", st == 200)
        got = {(a, p): get_from(a, port, p) for a in ("127.0.0.1", "127.0.0.2")
               for p in ("/status", "/metrics", "/health", "/x/status/", "/x/metrics")}
        check("admin.allow: /status, /metrics 200 from 127.0.0.1, 404 from 127.0.0.2; /health 200 "
              "from both; /x/status/, /x/metrics 404", got == {
                  ("127.0.0.1", "/status"): 200, ("127.0.0.1", "/metrics"): 200,
                  ("127.0.0.2", "/status"): 404, ("127.0.0.2", "/metrics"): 404,
                  ("127.0.0.1", "/health"): 200, ("127.0.0.2", "/health"): 200,
                  ("127.0.0.1", "/x/status/"): 404, ("127.0.0.2", "/x/status/"): 404,
                  ("127.0.0.1", "/x/metrics"): 404, ("127.0.0.2", "/x/metrics"): 404}, str(got))
    finally:
        web.stop()
        srv.stop()
    # The shipped nginx.conf in front of a server with the default admin.allow.
    fport, port = free_port(), free_port()
    cfg = os.path.join(prefix, "default-admin.yaml")
    write_config(cfg, fport, log, workers=1)
    srv = Proc([FCGI, "--config", cfg], os.path.join(prefix, "server2.out"))
    nprefix = os.path.join(prefix, "nginx-shipped")
    os.makedirs(os.path.join(nprefix, "tmp"), exist_ok=True)
    conf = os.path.join(nprefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(shipped_nginx_conf(nprefix, port, fport))
    web = Proc(["nginx", "-p", nprefix, "-c", conf, "-g", "daemon off;"], os.path.join(nprefix, "nginx.out"))
    try:
        if check("shipped nginx.conf: up", wait_for(lambda: len(ready_workers(port)) == 1, 60)):
            got = {(a, p): get_from(a, port, p) for a in ("127.0.0.1", "127.0.0.2")
                   for p in ("/status", "/x/status/", "/health")}
            check("shipped nginx.conf: /status 200 from 127.0.0.1, 403 from 127.0.0.2; /x/status/ "
                  "404 from both; /health 200", got == {
                      ("127.0.0.1", "/status"): 200, ("127.0.0.2", "/status"): 403,
                      ("127.0.0.1", "/x/status/"): 404, ("127.0.0.2", "/x/status/"): 404,
                      ("127.0.0.1", "/health"): 200, ("127.0.0.2", "/health"): 200}, str(got))
    finally:
        web.stop()
        srv.stop()
    # A unix socket: listen_mode's default.
    sock = os.path.join(prefix, "cutout.sock")
    cfg = os.path.join(prefix, "unix.yaml")
    write_config(cfg, 9, log, workers=1)
    text = open(cfg).read().replace("listen: 127.0.0.1:9", f"listen: unix:{sock}")
    open(cfg, "w").write(text)
    srv = Proc([FCGI, "--config", cfg], os.path.join(prefix, "server3.out"))
    try:
        up = wait_for(lambda: os.path.exists(sock), 30)
        mode = os.stat(sock).st_mode & 0o777 if up else None
        check(f"unix socket created with mode {oct(mode) if up else None} (want 0o660)", mode == 0o660)
    finally:
        srv.stop()


def test_json_cors(tmp, photos, refs=None):
    """POST /remove with a JSON body ({"image": base64, options}) through
    nginx answers the same pixels as the multipart request with the same
    options: as JSON ({"image", width, height, model, timings}) on Accept:
    application/json, as the image bytes on Accept: image/png or none. Bad
    base64: 400 bad_base64; nesting: 400 bad_json; a JSON body over
    max_body_bytes: 413. cors.allow_origins [https://app.example]: its
    answers (a 200, a 400) carry Access-Control-Allow-Origin and Vary:
    Origin, another origin's none; a preflight from it 204 with the CORS
    headers, from another 403 cors_forbidden; OPTIONS without Origin 405."""
    prefix = os.path.join(tmp, "jsoncors")
    os.makedirs(prefix, exist_ok=True)
    fport, port = free_port(), free_port()
    cfg, log = os.path.join(prefix, "cutout.yaml"), os.path.join(prefix, "server.log")
    write_config(cfg, fport, log, workers=1, max_body=2 << 20,
                 extra='cors: {allow_origins: ["https://app.example"]}')
    srv = Proc([FCGI, "--config", cfg], os.path.join(prefix, "server.out"))
    web = start_nginx(os.path.join(prefix, "nginx"), port, fport)
    try:
        if not check("json/cors: server up", wait_for(lambda: len(ready_workers(port)) == 1, 60)):
            return
        photo = open(photos["small"], "rb").read()
        opts = {"crop": True, "margin": 5, "bg": "#3050a0ff", "post_process": False, "model": "u2netp"}
        form = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in opts.items()}
        body, hdrs = multipart(form, {"file": ("small.png", photo)})
        st, _, want = request(port, "POST", "/remove", body=body, headers=hdrs)
        check("json: the multipart request for comparison answers 200", st == 200, want[:200])
        doc = json.dumps(dict(opts, image=base64.b64encode(photo).decode())).encode()
        jh = {"Content-Type": "application/json"}
        st, h, got = request(port, "POST", "/remove", body=doc, headers=dict(jh, Accept="application/json"))
        ok = st == 200 and h.get("content-type") == "application/json"
        try:
            j = json.loads(got)
            img = base64.b64decode(j["image"], validate=True)
            same, why = same_pixels(want, img)
            w, hh = Image.open(io.BytesIO(img)).size
            ok = ok and same and j["width"] == w and j["height"] == hh and j["model"] == "u2netp" and \
                sorted(j["timings"]) == ["decode_ms", "encode_ms", "infer_ms", "queue_ms"]
        except Exception as e:  # noqa: BLE001 - any malformed answer fails the check
            ok, why = False, f"{e}: {got[:200]}"
        check(f"json: Accept: application/json answers JSON with the multipart request's pixels ({why})", ok)
        for accept in ("image/png", None):
            st, h, got = request(port, "POST", "/remove", body=doc,
                                 headers=dict(jh, Accept=accept) if accept else jh)
            same, why = same_pixels(want, got) if st == 200 else (False, got[:200])
            check(f"json: Accept {accept}: the image bytes, same pixels ({why})",
                  same and h.get("content-type") == "image/png")
        st, _, got = request(port, "POST", "/remove", body=b'{"image": "iVBO*w0K"}', headers=jh)
        check(f"json: bad base64 -> 400 bad_base64 ({st})", st == 400 and is_error_json(got, "bad_base64"), got)
        st, _, got = request(port, "POST", "/remove", body=b'{"image": "", "o": {"a": 1}}', headers=jh)
        check(f"json: a nested object -> 400 bad_json ({st})", st == 400 and is_error_json(got, "bad_json"), got)
        big = b'{"image": "' + b"A" * (3 << 20) + b'"}'
        st, _, got = request(port, "POST", "/remove", body=big, headers=jh)
        check(f"json: a 3 MB JSON body over max_body_bytes 2 MiB -> 413 ({st})", st == 413, got[:200])

        app, evil = "https://app.example", "https://evil.example"
        st, h, _ = request(port, "GET", "/health", headers={"Origin": app})
        check(f"cors: allowed origin on a 200: ACAO {h.get('access-control-allow-origin')}, Vary {h.get('vary')}",
              st == 200 and h.get("access-control-allow-origin") == app and "Origin" in h.get("vary", "") and
              "X-Request-Id" in h.get("access-control-expose-headers", ""))
        st, h, got = request(port, "POST", "/remove?format=gif", body=photo,
                             headers={"Origin": app, "Content-Type": "application/octet-stream"})
        check(f"cors: allowed origin on a {st}: ACAO {h.get('access-control-allow-origin')}, Vary {h.get('vary')}",
              st == 400 and is_error_json(got) and h.get("access-control-allow-origin") == app and
              "Origin" in h.get("vary", ""))
        st, h, _ = request(port, "GET", "/health", headers={"Origin": evil})
        check("cors: another origin gets no Access-Control-Allow-Origin",
              st == 200 and "access-control-allow-origin" not in h, str(h))
        pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type, x-evil"}
        st, h, got = request(port, "OPTIONS", "/remove", headers=dict(pre, Origin=app))
        check(f"cors: preflight from the allowed origin -> {st} (204) with the CORS headers: {h}",
              st == 204 and not got and h.get("access-control-allow-origin") == app and
              h.get("access-control-allow-methods") == "GET, POST, DELETE, OPTIONS" and
              h.get("access-control-allow-headers") == "Content-Type" and
              h.get("access-control-max-age") == "600")
        st, h, got = request(port, "OPTIONS", "/remove", headers=dict(pre, Origin=evil))
        check(f"cors: preflight from another origin -> {st} (403 cors_forbidden)",
              st == 403 and is_error_json(got, "cors_forbidden") and "access-control-allow-origin" not in h, got)
        st, h, got = request(port, "OPTIONS", "/remove")
        check(f"cors: OPTIONS without Origin -> {st} (405)", st == 405 and is_error_json(got), got)
    finally:
        web.stop()
        srv.stop()


# ------------------------------------------------------------------ main


def main():
    for exe in (FCGI, CLI):
        if not os.access(exe, os.X_OK):
            print(f"missing {exe}: build it first (make BUILD={BUILD} all)")
            return 2
    os.makedirs(os.path.join(BUILD, "run"), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="integration-", dir=os.path.join(BUILD, "run"))
    photos = make_images(tmp)
    refs = {
        "astro": cli([photos["astronaut"]], os.path.join(tmp, "ref.png")),
        "astro_mask": cli(["--mask", photos["astronaut"]], os.path.join(tmp, "ref-mask.png")),
        "astro_bg": cli(["--bg", "0,0,255,255", photos["astronaut"]], os.path.join(tmp, "ref-bg.png")),
        "cat_mask": cli(["--mask", photos["chelsea"]], os.path.join(tmp, "cat-mask.png")),
    }
    only = os.environ.get("CUTOUT_IT_ONLY", "")
    if only:  # development: CUTOUT_IT_ONLY=fairness,... runs just those
        for name in only.split(","):
            fn = "test_" + {"fairness": "keepalive_fairness", "watchdog": "timeouts_and_watchdog",
                            "systemd": "socket_activation"}.get(name, name)
            (globals().get(fn) or getattr(hostile, fn))(tmp, photos, refs)
        print(f"{passed} passed, {failed} failed")
        return 1 if failed else 0
    fport, port = free_port(), free_port()
    cfg, srv_log = os.path.join(tmp, "cutout.yaml"), os.path.join(tmp, "server.log")
    write_config(cfg, fport, srv_log)
    r = subprocess.run([FCGI, "--config", cfg, "--check-config"], capture_output=True, text=True, env=ENV,
                       cwd=ROOT, timeout=60)
    check("--check-config accepts the test configuration", r.returncode == 0, r.stderr)
    srv = Proc([FCGI, "--config", cfg], os.path.join(tmp, "server.out"))
    nginx = start_nginx(os.path.join(tmp, "nginx"), port, fport)
    try:
        up = wait_for(lambda: len(ready_workers(port)) == 2, 30)
        if check("nginx + cutout-fcgi up (2 ready workers)", up,
                 open(os.path.join(tmp, "server.out"), errors="replace").read()[-500:]):
            test_photo_and_endpoints(port, photos, refs)
            test_errors(port, photos)
            test_keepalive(port, fport, photos, refs)
            test_kill_worker(port, srv_log, photos)
            test_log_reopen(port, srv, srv_log, photos)
            test_reload_and_overload(port, srv, cfg, fport, srv_log, photos)
            test_drain(port, srv, photos)
        acc = [x for x in json_lines(srv_log + ".1") + json_lines(srv_log) if x.get("msg") == "access"]
        check("JSON access log: one line per request with id, status, ms",
              len(acc) > 50 and all("id" in x and "status" in x and "ms" in x for x in acc), f"{len(acc)} lines")
    finally:
        nginx.stop()
        srv.stop()
    test_keepalive_fairness(tmp, photos)
    test_timeouts_and_watchdog(tmp, photos)
    test_socket_activation(tmp, photos, refs)
    test_hardening(tmp, photos, refs)
    test_json_cors(tmp, photos, refs)
    hostile.test_silent_clients(tmp, photos)
    hostile.test_timeouts_direct(tmp, photos)
    hostile.test_recycle_drain(tmp, photos)
    hostile.test_overload_early(tmp, photos)
    hostile.test_lying_params(tmp, photos)
    hostile.test_management_records(tmp, photos)
    hostile.test_admin_listen(tmp, photos)
    if not os.environ.get("CUTOUT_IT_SKIP_UPSTREAM"):
        test_upstream(tmp, photos, refs)
    for name in ("lighttpd", "apache"):
        if os.environ.get("CUTOUT_IT_SKIP_" + name.upper()):
            continue
        other_server(name, tmp, photos, refs)
    print(f"integration: {time.time() - T0:.0f} s")
    return finish(tmp)


if __name__ == "__main__":
    sys.exit(main())
