#!/usr/bin/python3
"""Integration tests of the jobs API (fcgi/README.md "Jobs"): real nginx in
front of cutout-fcgi with jobs.store: sqlite, on 127.0.0.1.

usage: /usr/bin/python3 tests/integration/jobs.py BUILD_DIR

A job of 5 photos, one of them not an image: polled until done; the 4
results have the bytes POST /remove gives for the same photo and options,
the bad one failed with its error; the ZIP archive holds the 4 results;
retry runs only the failed item again (no image reaches the network);
cancel deletes the files; 404, 405, 409, 413 (nothing stored), 507 on a
full spool (a 1 MiB tmpfs); the listing; /status and /metrics. Then the
crash test: kill -9 of the master and every worker in the middle of a
20-item job, a restart on the same store, and every item ends with exactly
one correct result; that restart uses jobs.serve: x-accel-redirect, and
results come from nginx's internal location. Then the CLI's --server
round trip; jobs.s3 against s3rver (tests/s3: presigned redirects, archive,
deletion, a wrong secret, retries); jobs.serve: x-sendfile behind lighttpd
and Apache. CUTOUT_IT_JOBS_ONLY=s3,xsendfile runs those alone. Prints
"N passed, N failed".
"""
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers as S  # noqa: E402  (the helpers: processes, nginx, HTTP, checks)
from servers import check, request, multipart, wait_for, free_port  # noqa: E402

OPTS = "max_width=256"  # an option, so that the job's options are seen to apply

# jobs.serve: x-accel-redirect (as fcgi/conf/nginx.conf): the internal
# location nginx sends results from, added to the tests' usual server block.
INTERNAL = """
        location /cutout-jobs-files/ {{
            internal;
            alias {spool}/;
            types {{ image/png png; image/webp webp; image/jpeg jpg; }}
            add_header X-Served-By nginx-internal;
            add_header X-Model $upstream_http_x_model;  # upstream headers are not kept otherwise
        }}
    }}"""
# POST /jobs is not resent to another connection (it creates a job).
NGINX_JOBS_BODY = (S.NGINX_BODY.replace("client_max_body_size 8m", "client_max_body_size 64m")
                   .replace("timeout non_idempotent;", "timeout;").rstrip()[:-len("}}")] + INTERNAL)


def start_nginx(prefix, port, fport, spool):
    os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(S.nginx_conf(prefix, NGINX_JOBS_BODY.format(port=port, fport=fport, spool=spool, keepalive=4)))
    return S.Proc(["nginx", "-p", prefix, "-c", conf, "-g", "daemon off;"], os.path.join(prefix, "nginx.out"))


def write_config(path, fport, log, db, spool, serve="direct", workers=2, jobs=True):
    # batch.max_size 1: a job's results are compared byte for byte with
    # POST /remove's, and a batch of several images may differ in the last
    # bits of the mask (as for concurrent requests of /remove).
    S.write_config(path, fport, log, workers=workers, threads=2, batch_size=1, delay=5)
    if jobs:
        with open(path, "a") as f:
            f.write(f"jobs:\n  store: sqlite:{db}\n  dir: {spool}\n  ttl_s: 3600\n"
                    f"  max_items: 24\n  max_queued_items: 1000\n  serve: {serve}\n")


def make_photos(tmp):
    from skimage import data as skdata
    from PIL import Image
    out = []
    for name, arr in (("astronaut", skdata.astronaut()), ("chelsea", skdata.chelsea()),
                      ("coffee", skdata.coffee()), ("rocket", skdata.rocket())):
        p = os.path.join(tmp, name + ".jpg")
        Image.fromarray(arr).save(p, quality=90)
        out.append(p)
    return out


def post_job(port, files, query=OPTS):
    body, hdr = multipart({}, {})
    b = hdr["Content-Type"].split("boundary=")[1]
    buf = io.BytesIO()
    for name, data in files:
        buf.write(f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                  f"Content-Type: application/octet-stream\r\n\r\n".encode())
        buf.write(data)
        buf.write(b"\r\n")
    buf.write(f"--{b}--\r\n".encode())
    return request(port, "POST", "/jobs" + ("?" + query if query else ""), buf.getvalue(), hdr)


def get_job(port, jid):
    st, _, data = request(port, "GET", f"/jobs/{jid}", timeout=30)
    return json.loads(data) if st == 200 else None


def wait_job(port, jid, timeout):
    def finished():
        j = get_job(port, jid)
        return j if j and j["status"] in ("done", "failed", "cancelled") else None
    return wait_for(finished, timeout, 0.3)


def dirs_in(spool):
    return sorted(d for d in os.listdir(spool) if not d.startswith(".")) if os.path.isdir(spool) else []


def metric(port, name):
    st, _, data = request(port, "GET", "/metrics", timeout=30)
    for line in data.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_api(port, tmp, spool, photos, refs):
    bad = ("notes.png", b"this is not an image at all")
    files = [(os.path.basename(p), open(p, "rb").read()) for p in photos]
    files.insert(2, bad)  # index 2 is the bad one
    st, h, data = post_job(port, files)
    j = json.loads(data) if st == 202 else {}
    check("POST /jobs (5 files) -> 202 queued with id, total, url and Location",
          st == 202 and j.get("status") == "queued" and j.get("total") == 5 and
          len(j.get("id", "")) == 32 and h.get("location", "").endswith("/jobs/" + j.get("id", "")),
          f"{st} {data[:300]}")
    if st != 202:
        return None
    jid = j["id"]
    st, _, data = request(port, "GET", f"/jobs/{jid}/items/4")
    check("GET an item not run yet -> 409 not_ready (or 200 when already done)",
          st == 200 or (st == 409 and S.is_error_json(data, "not_ready")), f"{st} {data[:200]}")
    j = wait_job(port, jid, 180)
    check("the job ends done with done=4, failed=1, progress 1, eta 0",
          j and j["status"] == "done" and j["done"] == 4 and j["failed"] == 1 and j["progress"] == 1
          and j["eta_s"] == 0 and j["started"] and j["finished"], json.dumps(j)[:500])
    if not j:
        return None
    it = j["items"][2]
    check("the bad item failed with its error (415 unsupported_media_type)",
          it["status"] == "failed" and it["error"] and it["error"]["code"] == "unsupported_media_type"
          and it["name"] == "notes.png", json.dumps(it))
    check("the job shows its options", j["options"] == {"max_width": "256"}, json.dumps(j["options"]))
    st, _, data = request(port, "GET", f"/jobs/{jid}/items/2")
    check("GET the failed item -> its error (415 JSON)", st == 415 and S.is_error_json(data, "unsupported_media_type"),
          f"{st} {data[:200]}")
    results = {}
    for k, i in enumerate([0, 1, 3, 4]):
        st, h, data = request(port, "GET", f"/jobs/{jid}/items/{i}")
        results[i] = data
        ok, detail = (st == 200 and h.get("content-type") == "image/png"), f"{st} {h.get('content-type')}"
        if ok:
            ok, detail = S.same_pixels(data, refs[k])
            ok = ok and data == refs[k]
        check(f"item {i} ({j['items'][i]['name']}) = POST /remove?{OPTS} of the same photo, byte for byte",
              ok, detail)
    st, h, data = request(port, "GET", f"/jobs/{jid}/archive")
    names = []
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        bad_member = z.testzip()
        names = z.namelist()
        same = [z.read(n) for n in names] == [results[i] for i in (0, 1, 3, 4)]
    except Exception as e:  # a broken archive
        bad_member, same = str(e), False
    check("GET /jobs/ID/archive -> a ZIP with the 4 results under their input names (CRCs ok)",
          st == 200 and h.get("content-type") == "application/zip" and bad_member is None and same and
          names == ["astronaut.png", "chelsea.png", "coffee.png", "rocket.png"] and
          int(h.get("content-length", -1)) == len(data), f"{st} {names} {bad_member}")
    images_before = metric(port, "cutout_batch_images_total")
    st, _, data = request(port, "POST", f"/jobs/{jid}/retry")
    jr = json.loads(data) if st == 202 else {}
    check("POST /jobs/ID/retry -> 202 with the failed item queued again",
          st == 202 and jr["items"][2]["status"] in ("queued", "running", "failed") and jr["done"] == 4,
          f"{st} {data[:300]}")
    j2 = wait_job(port, jid, 60)
    images_after = metric(port, "cutout_batch_images_total")
    check("retry ran only the failed item: it failed again, the 4 results unchanged, no image through the network",
          j2 and j2["done"] == 4 and j2["failed"] == 1 and images_after == images_before and
          all(request(port, "GET", f"/jobs/{jid}/items/{i}")[2] == results[i] for i in (0, 1, 3, 4)),
          f"{images_before} -> {images_after}")
    # listing
    st, _, data = request(port, "GET", "/jobs?limit=1")
    page = json.loads(data) if st == 200 else {}
    check("GET /jobs?limit=1 -> the newest job and a cursor",
          st == 200 and len(page["jobs"]) == 1 and page["jobs"][0]["id"] == jid and page["next"] == jid,
          data[:300])
    st, _, data = request(port, "GET", f"/jobs?status=done&after={jid}")
    check("GET /jobs?status=done&after=ID -> older jobs only", st == 200 and json.loads(data)["jobs"] == [],
          data[:300])
    # Every id is a capability: the listing is for admin.allow clients only (loopback).
    st = S.get_from("127.0.0.2", port, "/jobs?limit=1")
    check("GET /jobs from 127.0.0.2 (not in admin.allow) -> 404, no ids", st == 404, str(st))
    # cancel
    st, _, data = post_job(port, [files[0]] * 12)
    cid = json.loads(data)["id"] if st == 202 else "0" * 32
    st, _, data = request(port, "DELETE", f"/jobs/{cid}")
    jc = json.loads(data) if st == 200 else {}
    check("DELETE /jobs/ID -> 200 cancelled, its files deleted",
          st == 200 and jc["status"] == "cancelled" and jc["cancelled"] >= 1 and cid not in dirs_in(spool),
          f"{st} {data[:300]}")
    time.sleep(3)  # a batch that was running finishes and drops its results
    jc = get_job(port, cid)
    st, _, data = request(port, "GET", f"/jobs/{cid}/items/11")
    check("after the cancel: no results written, items cancelled (410)",
          jc and jc["status"] == "cancelled" and cid not in dirs_in(spool) and st == 410,
          f"{json.dumps(jc)[:300]} {st}")
    st, _, data = request(port, "POST", f"/jobs/{cid}/retry")
    check("retry of a cancelled job -> 409", st == 409 and S.is_error_json(data, "cancelled"), f"{st}")
    # errors
    for path, want in ((f"/jobs/{'0' * 32}", 404), ("/jobs/not-an-id", 404), (f"/jobs/{'0' * 32}/archive", 404),
                       (f"/jobs/{jid}/items/99", 404), (f"/jobs/{jid}/items/x", 404)):
        st, _, data = request(port, "GET", path)
        check(f"GET {path[:50]} -> {want} JSON", st == want and S.is_error_json(data, "not_found"), f"{st}")
    st, h, data = request(port, "PUT", f"/jobs/{jid}")
    check("PUT /jobs/ID -> 405 with Allow", st == 405 and "DELETE" in h.get("allow", ""), f"{st}")
    before = dirs_in(spool)
    st, _, data = post_job(port, [files[0]] * 25)
    check("25 files (jobs.max_items 24) -> 413, nothing stored",
          st == 413 and S.is_error_json(data, "too_large") and dirs_in(spool) == before, f"{st} {data[:200]}")
    st, _, data = post_job(port, [files[0]], "format=gif")
    check("a bad option -> 400, nothing stored", st == 400 and dirs_in(spool) == before, f"{st}")
    st, _, data = request(port, "GET", "/status")
    js = json.loads(data)["pool"].get("jobs") if st == 200 else None
    check("/status: jobs by status and spool bytes",
          js and js["jobs"]["done"] >= 1 and js["jobs"]["cancelled"] >= 1 and js["spool_bytes"] > 0, str(js))
    check("/metrics: cutout_jobs_spool_bytes and cutout_jobs{status}",
          (metric(port, "cutout_jobs_spool_bytes") or 0) > 0 and
          metric(port, 'cutout_jobs{status="done"}') is not None, "")
    return jid


def test_full_spool(tmp, photos):
    """507 on a full spool disk: a 1 MiB tmpfs; nothing half-written left."""
    small = os.path.join(tmp, "small-spool")
    os.makedirs(small, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small]).returncode != 0:
        check("507 on a full spool (needs a tmpfs mount)", False, "mount failed")
        return
    fport, port = free_port(), free_port()
    cfg, log = os.path.join(tmp, "small.yaml"), os.path.join(tmp, "small.log")
    write_config(cfg, fport, log, os.path.join(tmp, "small.db"), small, workers=1)
    srv = S.Proc([S.FCGI, "--config", cfg], os.path.join(tmp, "small.out"))
    nginx = start_nginx(os.path.join(tmp, "nginx-small"), port, fport, small)
    try:
        if check("server with a 1 MiB spool up", wait_for(lambda: len(S.ready_workers(port)) == 1, 60)):
            data = os.urandom(300000)  # stored as uploaded: 5 of them do not fit 1 MiB
            st, h, body = post_job(port, [("a.jpg", data)] * 5)
            left = [f for d in os.listdir(small) for f in os.listdir(os.path.join(small, d))]
            check("a job larger than the free spool -> 507 insufficient_storage, nothing left behind",
                  st == 507 and S.is_error_json(body, "insufficient_storage") and left == [] and
                  os.listdir(small) == [], f"{st} {body[:200]} {left[:3]}")
            st, _, body = post_job(port, [("a.jpg", data[:1000])])
            check("the spool is usable again afterwards (202)", st == 202, f"{st} {body[:200]}")
    finally:
        nginx.stop()
        srv.stop()
        subprocess.run(["umount", small])


def test_not_enabled(tmp):
    fport, port = free_port(), free_port()
    cfg, log = os.path.join(tmp, "nojobs.yaml"), os.path.join(tmp, "nojobs.log")
    write_config(cfg, fport, log, "", "", workers=1, jobs=False)
    srv = S.Proc([S.FCGI, "--config", cfg], os.path.join(tmp, "nojobs.out"))
    nginx = start_nginx(os.path.join(tmp, "nginx-nojobs"), port, fport, tmp)
    try:
        if wait_for(lambda: len(S.ready_workers(port)) == 1, 60):
            st, _, data = request(port, "POST", "/jobs", b"x", {"Content-Type": "image/png"})
            check("no jobs: key -> /jobs answers 404 'jobs are not enabled'",
                  st == 404 and b"not enabled" in data and S.is_error_json(data, "not_found"), f"{st} {data[:200]}")
    finally:
        nginx.stop()
        srv.stop()


def server_pids(cfg):
    """Every cutout-fcgi process started with this configuration file (the
    master and its workers, also one the master forked just before it died)."""
    pids = []
    for d in os.listdir("/proc"):
        try:
            argv = open(f"/proc/{d}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if d.isdigit() and argv and argv[0] == S.FCGI.encode() and cfg.encode() in argv and not S.gone(int(d)):
            pids.append(int(d))
    return pids


def kill_all(srv, cfg):
    pids = [srv.p.pid] + S.children_of(srv.p.pid)
    for _ in range(3):  # a worker forked meanwhile is killed on the next round
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        srv.p.poll()
        wait_for(lambda: all(S.gone(p) for p in pids), 10)
        more = [p for p in server_pids(cfg) if p not in pids]
        if not more:
            break
        pids += more
    srv.p.wait(10)
    srv.log.close()
    return pids


def test_crash(tmp, db, spool, srv, cfg0, port, fport, photos, refs):
    data = [open(p, "rb").read() for p in photos]
    files = [(f"p{i:02d}-{os.path.basename(photos[i % 4])}", data[i % 4]) for i in range(20)]
    st, _, body = post_job(port, files)
    jid = json.loads(body)["id"] if st == 202 else None
    check("crash test: a 20-item job accepted", st == 202, f"{st} {body[:200]}")
    if not jid:
        return srv
    j = wait_for(lambda: (lambda x: x if x and x["done"] >= 2 else None)(get_job(port, jid)), 120, 0.2)
    check("crash test: the job is under way when killed", j and j["done"] < 20, json.dumps(j)[:200] if j else "")
    pids = kill_all(srv, cfg0)
    check("crash test: master and workers killed with SIGKILL", all(S.gone(p) for p in pids), str(pids))
    cfg, log = os.path.join(tmp, "restart.yaml"), os.path.join(tmp, "restart.log")
    write_config(cfg, fport, log, db, spool, serve="x-accel-redirect")
    srv = S.Proc([S.FCGI, "--config", cfg], os.path.join(tmp, "restart.out"))
    up = wait_for(lambda: len(S.ready_workers(port)) == 2, 60)
    check("crash test: restarted on the same store", up)
    j = wait_job(port, jid, 240)
    check("crash test: the job finishes after the restart (20 done)", j and j["status"] == "done" and
          j["done"] == 20, json.dumps(j)[:300] if j else "timeout")
    files_now = sorted(os.listdir(os.path.join(spool, jid)))
    outs = [f for f in files_now if f.startswith("out-")]
    check("crash test: exactly one result file per item, no temporary files left",
          len(outs) == 20 and not [f for f in files_now if f.startswith(".tmp")], str(files_now))
    bad = []
    for i in range(20):
        st, h, body = request(port, "GET", f"/jobs/{jid}/items/{i}")
        if st != 200 or body != refs[i % 4] or h.get("x-served-by") != "nginx-internal":
            bad.append((i, st, h.get("x-served-by")))
    check("crash test: every result correct, sent by nginx (X-Accel-Redirect to the internal location)",
          not bad, str(bad[:5]))
    st, h, body = request(port, "GET", f"/jobs/{jid}/items/0")
    check("X-Accel-Redirect: image/png and X-Model from cutout-fcgi's answer",
          st == 200 and h.get("content-type") == "image/png" and h.get("x-model") == "u2netp", str(h))
    return srv


def test_cli(port, tmp, photos, refs):
    cli = S.CLI
    src, out = os.path.join(tmp, "cli-in"), os.path.join(tmp, "cli-out")
    os.makedirs(src, exist_ok=True)
    for p in photos:
        shutil.copy(p, src)
    with open(os.path.join(src, "broken.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff garbage")
    r = subprocess.run([cli, "--server", f"http://127.0.0.1:{port}", src, "-o", out, "--max-size", "256x1000000"],
                       capture_output=True, text=True, timeout=300)
    got = sorted(os.listdir(out)) if os.path.isdir(out) else []
    check("cutout --server DIR -o OUT: exit 1 naming the failed file, the others downloaded",
          r.returncode == 1 and "broken.jpg" in r.stderr and
          got == ["astronaut.png", "chelsea.png", "coffee.png", "rocket.png"], f"rc {r.returncode} {got} {r.stderr[-300:]}")
    same = all(open(os.path.join(out, os.path.basename(p)[:-4] + ".png"), "rb").read() == refs[k]
               for k, p in enumerate(photos)) if len(got) == 4 else False
    check("cutout --server: the results equal POST /remove's bytes", same)
    os.remove(os.path.join(src, "broken.jpg"))
    r = subprocess.run([cli, "--server", f"http://127.0.0.1:{port}", src, "-o", out + "2", "--max-size", "256x1000000"],
                       capture_output=True, text=True, timeout=300)
    check("cutout --server: exit 0 when every item succeeds, progress on stderr",
          r.returncode == 0 and "%" in r.stderr, f"rc {r.returncode} {r.stderr[-300:]}")


# ------------------------------------------------------------------ S3 (jobs.s3)

S3RVER = os.path.join(S.ROOT, "tests", "s3", "s3rver.js")  # tests/s3/package.json, npm ci by tools/install-deps
S3_KEYS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}  # s3rver's built-in account
BUCKET, PREFIX = "results", "cutout/jobs"


def start_s3rver(tmp):
    """s3rver on 127.0.0.1 (a free port), its objects under tmp/s3data; it
    checks SigV4 signatures of requests and of presigned URLs."""
    if not os.path.isdir(os.path.join(S.ROOT, "tests", "s3", "node_modules", "@20minutes", "s3rver")):
        check("s3rver installed (tools/install-deps: npm ci in tests/s3)", False)
        return None, None
    port, data = free_port(), os.path.join(tmp, "s3data")
    os.makedirs(data, exist_ok=True)
    proc = S.Proc(["node", S3RVER, "-d", data, "-a", "127.0.0.1", "-p", str(port), "--no-vhost-buckets",
                   "--configure-bucket", BUCKET], os.path.join(tmp, "s3rver.out"))
    up = wait_for(lambda: S.request(port, "GET", f"/{BUCKET}/none", timeout=5)[0] in (403, 404), 30, 0.3)
    if not check("s3rver up on 127.0.0.1", up, open(os.path.join(tmp, "s3rver.out"), errors="replace").read()[-300:]):
        proc.stop()
        return None, None
    return proc, port


def s3_config(tmp, name, s3port, ttl=3600, endpoint=None):
    fport, port = free_port(), free_port()
    cfg, log = os.path.join(tmp, f"{name}.yaml"), os.path.join(tmp, f"{name}.log")
    db, spool = os.path.join(tmp, f"{name}.db"), os.path.join(tmp, f"{name}-spool")
    write_config(cfg, fport, log, db, spool, workers=1)
    text = open(cfg).read().replace("ttl_s: 3600", f"ttl_s: {ttl}")
    text += (f"  s3:\n    endpoint: {endpoint or f'http://127.0.0.1:{s3port}'}\n    bucket: {BUCKET}\n"
             f"    prefix: {PREFIX}\n    region: us-east-1\n    expires_s: 300\n")
    open(cfg, "w").write(text)
    return cfg, fport, port, spool


def start_s3_server(tmp, name, cfg, fport, port, spool, secret="S3RVER"):
    env = dict(S.ENV, AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY=secret)
    srv = S.Proc([S.FCGI, "--config", cfg], os.path.join(tmp, f"{name}.out"), env=env)
    nginx = start_nginx(os.path.join(tmp, f"nginx-{name}"), port, fport, spool)
    up = wait_for(lambda: len(S.ready_workers(port)) == 1, 60)
    check(f"S3 ({name}): nginx + cutout-fcgi with jobs.s3 up", up,
          open(os.path.join(tmp, f"{name}.out"), errors="replace").read()[-500:])
    return srv, nginx, up


def http_get(url):
    """A plain GET of an absolute URL (what a client does with the Location)."""
    import urllib.error
    import urllib.request
    if not url.startswith("http://"):
        return None, b""
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def item_location(port, jid, i):
    st, h, body = request(port, "GET", f"/jobs/{jid}/items/{i}")
    return st, h.get("location", ""), body


def remove_refs(port, photos):
    """POST /remove?OPTS of each photo: what each job item must equal."""
    refs = []
    for p in photos:
        st, _, data = request(port, "POST", "/remove?" + OPTS, open(p, "rb").read(), {"Content-Type": "image/jpeg"})
        refs.append(data if st == 200 else None)
    return refs


def test_s3(tmp, photos):
    s3, s3port = start_s3rver(tmp)
    if not s3:
        return
    try:
        refs = s3_main(tmp, photos, cli_refs(tmp, photos), s3port)
        if refs and all(refs):
            s3_failures(tmp, photos, refs, s3port)
    finally:
        s3.stop()


def s3_main(tmp, photos, cli_refs, s3port):
    cfg, fport, port, spool = s3_config(tmp, "s3", s3port)
    srv, nginx, up = start_s3_server(tmp, "s3", cfg, fport, port, spool)
    refs = None
    try:
        if not up:
            return None
        refs = remove_refs(port, photos)
        if not check("S3: references from POST /remove", all(refs)):
            return refs
        files = [(os.path.basename(p), open(p, "rb").read()) for p in photos]
        st, _, data = post_job(port, files)
        jid = json.loads(data)["id"] if st == 202 else None
        j = wait_job(port, jid, 180) if jid else None
        check("S3: a job of 4 photos ends done (4 results uploaded)", j and j["status"] == "done" and j["done"] == 4,
              json.dumps(j)[:400] if j else f"{st} {data[:200]}")
        if not j:
            return refs
        urls, bad = {}, []
        for i in range(4):
            st, loc, body = item_location(port, jid, i)
            want = f"http://127.0.0.1:{s3port}/{BUCKET}/{PREFIX}/{jid}/{i}.png?X-Amz-Algorithm=AWS4-HMAC-SHA256&"
            if st != 302 or not loc.startswith(want) or "X-Amz-Expires=300&" not in loc or \
                    "X-Amz-Signature=" not in loc:
                bad.append((i, st, loc[:160]))
            urls[i] = loc
        check("S3: every item answers 302 to a presigned URL (endpoint/bucket/prefix/ID/I.png, X-Amz-Expires 300)",
              not bad, str(bad))
        got = {i: http_get(u) for i, u in urls.items()}
        check("S3: each presigned URL answers the result: byte-identical to POST /remove of the photo",
              all(got[i][0] == 200 and got[i][1] == refs[i] for i in range(4)),
              str([(i, got[i][0], len(got[i][1])) for i in range(4)]))
        same = [S.same_pixels(got[i][1], cli_refs[i]) if got[i][0] == 200 else (False, got[i][0])
                for i in range(4)]
        check("S3: ... and the same pixels as the CLI (build/cutout --max-size 256x...) gives",
              all(ok for ok, _ in same), str(same))
        # s3rver checks the signature: a changed one is refused (the check above can fail).
        u = urls[0]
        sig = u.rindex("X-Amz-Signature=") + len("X-Amz-Signature=")
        forged = u[:sig] + ("0" if u[sig] != "0" else "1") + u[sig + 1:]
        st, body = http_get(forged)
        check("S3: a presigned URL with one digit of its signature changed -> 403 SignatureDoesNotMatch",
              st == 403 and b"SignatureDoesNotMatch" in body, f"{st} {body[:200]}")
        st, body = http_get(u.replace(f"/{jid}/0.png", f"/{jid}/1.png"))
        check("S3: the URL signed for item 0 does not open item 1 (403)", st == 403, f"{st}")
        outs = [f for f in os.listdir(os.path.join(spool, jid)) if f.startswith("out-")]
        check("S3: no result kept in the spool (the objects are the results)", outs == [], str(outs))
        st, h, data = request(port, "GET", f"/jobs/{jid}/archive")
        try:
            z = zipfile.ZipFile(io.BytesIO(data))
            ok = z.testzip() is None and [z.read(n) for n in z.namelist()] == refs and \
                z.namelist() == ["astronaut.png", "chelsea.png", "coffee.png", "rocket.png"]
        except Exception as e:
            ok = str(e)
        check("S3: GET /jobs/ID/archive -> a ZIP of the 4 results read back from S3", st == 200 and ok is True,
              f"{st} {ok}")
        src, out = os.path.join(tmp, "s3-cli-in"), os.path.join(tmp, "s3-cli-out")
        os.makedirs(src, exist_ok=True)
        for p in photos:
            shutil.copy(p, src)
        r = subprocess.run([S.CLI, "--server", f"http://127.0.0.1:{port}", src, "-o", out, "--max-size",
                            "256x1000000"], capture_output=True, text=True, timeout=300)
        got_cli = [open(os.path.join(out, os.path.basename(p)[:-4] + ".png"), "rb").read()
                   if os.path.exists(os.path.join(out, os.path.basename(p)[:-4] + ".png")) else None for p in photos]
        check("S3: cutout --server follows the redirects: the 4 results, byte-identical", r.returncode == 0 and
              got_cli == refs, f"rc {r.returncode} {r.stderr[-300:]}")
        st, _, data = request(port, "DELETE", f"/jobs/{jid}")
        gone = {i: http_get(u)[0] for i, u in urls.items()}
        check("S3: DELETE /jobs/ID deletes the job's objects (the presigned URLs now 404)",
              st == 200 and set(gone.values()) == {404}, f"{st} {gone}")
    finally:
        nginx.stop()
        srv.stop()
    return refs


def one_photo_job(port, photo):
    """A job of one photo, waited for: (id, the job, its item's error)."""
    st, _, data = post_job(port, [(os.path.basename(photo), open(photo, "rb").read())])
    jid = json.loads(data)["id"] if st == 202 else None
    j = wait_job(port, jid, 120) if jid else None
    return jid, j, j["items"][0]["error"] if j else None


def s3_failures(tmp, photos, refs, s3port):
    # A wrong secret: s3rver refuses the upload, the item fails with S3's words.
    # ttl_s 40: time for this job to fail, the restart and the retry first.
    cfg, fport, port, spool = s3_config(tmp, "s3-wrong", s3port, ttl=40)
    srv, nginx, up = start_s3_server(tmp, "s3-wrong", cfg, fport, port, spool, secret="not-the-secret")
    jid = None
    try:
        if up:
            jid, j, err = one_photo_job(port, photos[0])
            check("S3, wrong secret: the item fails with 502 upload_failed naming S3's 403 SignatureDoesNotMatch, "
                  "one attempt (not a transient error)",
                  j and j["status"] == "failed" and err and err["code"] == "upload_failed" and
                  "HTTP 403 SignatureDoesNotMatch" in err["error"] and "1 attempt)" in err["error"],
                  json.dumps(j)[:500] if j else "no job")
            st, _, body = request(port, "GET", f"/jobs/{jid}/items/0")
            check("S3, wrong secret: GET the item -> 502 with that error", st == 502 and
                  S.is_error_json(body, "upload_failed"), f"{st} {body[:200]}")
    finally:
        nginx.stop()
        srv.stop()
    # The same store with the right secret: retry runs the item again and it
    # is uploaded; the job's ttl (40 s) then deletes it and its object.
    srv, nginx, up = start_s3_server(tmp, "s3-wrong", cfg, fport, port, spool)
    try:
        if up and jid:
            st, _, _ = request(port, "POST", f"/jobs/{jid}/retry")
            j = wait_job(port, jid, 120)
            st2, loc, _ = item_location(port, jid, 0)
            got = http_get(loc) if st2 == 302 else (None, b"")
            check("S3: after the secret is mended, retry uploads the failed item (its URL serves the result)",
                  st == 202 and j and j["status"] == "done" and got == (200, refs[0]),
                  f"{st} {json.dumps(j)[:300] if j else ''} {st2} {got[0]}")
            expired = wait_for(lambda: request(port, "GET", f"/jobs/{jid}")[0] == 404, 60, 0.5)
            # The sweep (every 2 s) deletes what expired.
            swept = st2 == 302 and wait_for(lambda: http_get(loc)[0] == 404, 15, 0.5)
            check("S3: an expired job (ttl_s 40) is deleted with its objects by the sweep (its URL 404)",
                  expired and swept, f"expired {expired}, object still there: {not swept}")
    finally:
        nginx.stop()
        srv.stop()
    # No S3 server there: a transient failure, tried 3 times, then the item fails.
    dead = free_port()
    cfg, fport, port, spool = s3_config(tmp, "s3-dead", s3port, endpoint=f"http://127.0.0.1:{dead}")
    srv, nginx, up = start_s3_server(tmp, "s3-dead", cfg, fport, port, spool)
    try:
        if up:
            _, j, err = one_photo_job(port, photos[0])
            check("S3 unreachable: the upload is tried 3 times, then the item fails (502 upload_failed)",
                  j and j["status"] == "failed" and err and err["code"] == "upload_failed" and
                  "3 attempts" in err["error"], json.dumps(err)[:400] if err else "")
    finally:
        nginx.stop()
        srv.stop()
    # Keys are required when jobs.s3 is set.
    env = {k: v for k, v in S.ENV.items() if not k.startswith("AWS_")}
    r = subprocess.run([S.FCGI, "--config", cfg], env=env, capture_output=True, text=True, timeout=60)
    check("jobs.s3 without AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: the server does not start, and says why",
          r.returncode != 0 and "AWS_ACCESS_KEY_ID" in (r.stderr + r.stdout), f"rc {r.returncode} {r.stderr[-300:]}")


# ------------------------------------------------------------------ X-Sendfile (lighttpd, Apache)


def shipped_xsendfile(name, spool):
    """The jobs.serve: x-sendfile lines of fcgi/conf/NAME.conf, pointed at spool."""
    text = open(os.path.join(S.ROOT, "fcgi", "conf", f"{name}.conf")).read()
    if name == "lighttpd":
        lines = re.findall(r'^\s*"x-sendfile(?:-docroot)?" => .*$', text, re.M)
        assert len(lines) == 2, "no x-sendfile lines in fcgi/conf/lighttpd.conf"
        return "\n".join(lines).replace("/var/lib/cutout/jobs", spool).rstrip(",") + ","
    m = re.search(r"^<IfModule mod_xsendfile\.c>.*?^</IfModule>", text, re.M | re.S)
    assert m, "no <IfModule mod_xsendfile.c> block in fcgi/conf/apache.conf"
    return m.group(0).replace("/var/lib/cutout/jobs", spool)


def start_web(name, tmp, port, fport, spool):
    prefix = os.path.join(tmp, f"xs-{name}")
    os.makedirs(prefix, exist_ok=True)
    if name == "lighttpd":
        conf = S.LIGHTTPD_CONF.format(prefix=prefix, port=port, fport=fport, admin="").replace(
            '"fix-root-scriptname" => "enable"', '"fix-root-scriptname" => "enable",\n' +
            shipped_xsendfile("lighttpd", spool).rstrip(","))
        path = os.path.join(prefix, "lighttpd.conf")
        open(path, "w").write(conf)
        return S.Proc(["lighttpd", "-D", "-f", path], os.path.join(prefix, "out"))
    user = "User www-data\nGroup www-data" if os.getuid() == 0 else ""
    conf = S.APACHE_CONF.format(prefix=prefix, port=port, fport=fport, user=user, admin="") + \
        "LoadModule xsendfile_module /usr/lib/apache2/modules/mod_xsendfile.so\n" + \
        shipped_xsendfile("apache", spool) + "\n"
    path = os.path.join(prefix, "httpd.conf")
    open(path, "w").write(conf)
    return S.Proc(["apache2", "-f", path, "-DFOREGROUND"], os.path.join(prefix, "out"))


def test_xsendfile(tmp, photos):
    """jobs.serve: x-sendfile behind lighttpd and Apache (mod_xsendfile), with
    the lines shipped in fcgi/conf: the worker answers the header and no
    body, the web server sends the file. The spool is where Apache's user
    (www-data) can reach it, group www-data (setgid), as fcgi/README.md says."""
    import grp
    import hostile  # FastCGI spoken straight to the worker
    spool = tempfile.mkdtemp(prefix="cutout-xsendfile-")
    if os.getuid() == 0:
        os.chown(spool, -1, grp.getgrnam("www-data").gr_gid)
    os.chmod(spool, 0o2750)
    fport = free_port()
    cfg, log = os.path.join(tmp, "xs.yaml"), os.path.join(tmp, "xs.log")
    write_config(cfg, fport, log, os.path.join(tmp, "xs.db"), spool, serve="x-sendfile", workers=1)
    srv = S.Proc([S.FCGI, "--config", cfg], os.path.join(tmp, "xs.out"))
    ports = {"lighttpd": free_port(), "apache": free_port()}
    webs = {n: start_web(n, tmp, p, fport, spool) for n, p in ports.items()}
    try:
        lp = ports["lighttpd"]
        up = {n: wait_for(lambda p=p: request(p, "GET", "/health", timeout=5)[0] == 200, 60) for n, p in ports.items()}
        if not check("x-sendfile: lighttpd and Apache (mod_xsendfile) in front of cutout-fcgi, up", all(up.values()),
                     str(up)):
            return
        refs = remove_refs(lp, photos[:2])
        files = [(os.path.basename(p), open(p, "rb").read()) for p in photos[:2]]
        st, _, data = post_job(lp, files)
        jid = json.loads(data)["id"] if st == 202 else None
        j = wait_job(lp, jid, 120) if jid else None
        if not check("x-sendfile: a job of 2 photos done (through lighttpd)", j and j["done"] == 2 and all(refs),
                     json.dumps(j)[:300] if j else f"{st} {data[:200]}"):
            return
        for i in range(2):
            r = hostile.fcgi_request(fport, "GET", f"/jobs/{jid}/items/{i}", timeout=30)
            want = os.path.join(os.path.realpath(spool), jid, f"out-{i}.png")
            check(f"x-sendfile: the worker's own answer for item {i}: 200, X-Sendfile: {want[-40:]}, "
                  "Content-Length 0, no body",
                  r and r[0] == 200 and r[1].get("x-sendfile") == want and r[1].get("content-length") == "0" and
                  r[2] == b"" and r[1].get("content-type") == "image/png", str(r and (r[0], r[1], r[2][:50])))
        for name, p in ports.items():
            for i in range(2):
                st, h, body = request(p, "GET", f"/jobs/{jid}/items/{i}")
                check(f"x-sendfile: {name} sends item {i} from the spool: 200 image/png, the result's bytes "
                      "(= POST /remove), the header not passed on",
                      st == 200 and h.get("content-type") == "image/png" and body == refs[i] and
                      int(h.get("content-length", -1)) == len(refs[i]) and "x-sendfile" not in h,
                      f"{st} {h} {len(body)} vs {len(refs[i])}")
    finally:
        for w in webs.values():
            w.stop()
        srv.stop()
        shutil.rmtree(spool, ignore_errors=True)


def cli_refs(tmp, photos):
    """The CLI's results for the photos with the jobs' options (max_width=256)."""
    return [S.cli([p, "--max-size", "256x1000000"], os.path.join(tmp, "cli-" + os.path.basename(p) + ".png"))
            for p in photos]


def main():
    os.makedirs(os.path.join(S.BUILD, "run"), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="jobs-", dir=os.path.join(S.BUILD, "run"))
    photos = make_photos(tmp)
    only = [t for t in os.environ.get("CUTOUT_IT_JOBS_ONLY", "").split(",") if t]
    if only:  # CUTOUT_IT_JOBS_ONLY=s3,xsendfile: those parts alone
        for name in only:
            {"s3": test_s3, "xsendfile": test_xsendfile}[name](tmp, photos)
        return finish(tmp)
    db, spool = os.path.join(tmp, "jobs.db"), os.path.join(tmp, "spool")
    fport, port = free_port(), free_port()
    cfg, log = os.path.join(tmp, "cutout.yaml"), os.path.join(tmp, "server.log")
    write_config(cfg, fport, log, db, spool)
    srv = S.Proc([S.FCGI, "--config", cfg], os.path.join(tmp, "server.out"))
    os.makedirs(spool, exist_ok=True)
    nginx = start_nginx(os.path.join(tmp, "nginx"), port, fport, spool)
    refs = None
    try:
        up = wait_for(lambda: len(S.ready_workers(port)) == 2, 60)
        if check("nginx + cutout-fcgi with jobs: sqlite up", up,
                 open(os.path.join(tmp, "server.out"), errors="replace").read()[-500:]):
            refs = remove_refs(port, photos)
            check("references from POST /remove", all(refs))
            test_api(port, tmp, spool, photos, refs)
            srv = test_crash(tmp, db, spool, srv, cfg, port, fport, photos, refs)
            if not os.environ.get("CUTOUT_IT_SKIP_CLI"):
                test_cli(port, tmp, photos, refs)
    finally:
        nginx.stop()
        srv.stop()
    test_not_enabled(tmp)
    test_full_spool(tmp, photos)
    test_s3(tmp, photos)
    test_xsendfile(tmp, photos)
    return finish(tmp)


def finish(tmp, name="jobs"):
    """The suite's time, counts and exit status (servers.finish)."""
    print(f"{name}: {time.time() - S.T0:.0f} s")
    return S.finish(tmp)


if __name__ == "__main__":
    sys.exit(main())
