#!/usr/bin/python3
"""Integration tests of the jobs API on Redis (fcgi/README.md "Jobs", "Redis
layout"): a real redis-server on 127.0.0.1 (its own port and folder, no
persistence), two cutout-fcgi instances A and B, each behind its own nginx,
both with jobs.store: redis://... and a short jobs.lease_s.

usage: /usr/bin/python3 tests/integration/jobs_redis.py BUILD_DIR

Redis unreachable at start: cutout-fcgi exits with a clear error. The jobs
suite's API test (jobs.py test_api: results, archive, retry, cancel, the
listing, /status, /metrics) through A while B shares the queue; a job of A
read through B. The crash test: a 12-item job posted to A, kill -9 of A's
master and worker in the middle, B queues A's items again once A's lease
expired and finishes the job; every item has exactly one result, equal to
the CLI's output, fetched through B and through a restarted A. A worker
of A stopped (SIGSTOP) past its lease: B takes its item over, and A, resumed,
records nothing. Last,
redis-server killed: job requests answer 503 with Retry-After, POST /remove
still 200; redis-server started again: jobs work again. Prints
"N passed, N failed".
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers as S  # noqa: E402
import jobs as J  # noqa: E402  (the SQLite suite's helpers and its API test)
from servers import check, request, wait_for, free_port  # noqa: E402

LEASE_S = 3
DB = 3  # a database other than 0: jobs.store's /DB is seen to apply
CRASH_ITEMS = 12


class Redis:
    """redis-server on 127.0.0.1:port, data in memory only, stopped by PID."""

    def __init__(self, tmp, port):
        self.port, self.dir = port, os.path.join(tmp, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.n = 0
        self.start()

    def start(self):
        self.n += 1
        self.proc = S.Proc(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no", "--dir", self.dir],
                           os.path.join(self.dir, f"redis-{self.n}.log"))
        return wait_for(lambda: self.cli("PING") == "PONG", 20)

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "-n", str(DB), "--raw"] + list(args),
                           capture_output=True, text=True, timeout=20)
        return r.stdout.strip() if r.returncode == 0 else None

    def keys(self, pattern):
        out = self.cli("--scan", "--pattern", pattern)
        return sorted(out.split("\n")) if out else []

    def kill(self):
        os.kill(self.proc.p.pid, signal.SIGKILL)
        self.proc.p.wait(10)
        self.proc.log.close()


def write_config(path, fport, log, rport, spool):
    S.write_config(path, fport, log, workers=1, threads=2, batch_size=1, delay=5)
    with open(path, "a") as f:
        f.write(f"jobs:\n  store: redis://127.0.0.1:{rport}/{DB}\n  dir: {spool}\n  ttl_s: 3600\n"
                f"  lease_s: {LEASE_S}\n  max_items: 24\n  max_queued_items: 1000\n")


class Instance:
    """cutout-fcgi + nginx; kill() is kill -9 of the master and its workers."""

    def __init__(self, tmp, name, rport):
        self.tmp, self.name = tmp, name
        self.fport, self.port = free_port(), free_port()
        self.cfg, self.log = os.path.join(tmp, f"{name}.yaml"), os.path.join(tmp, f"{name}.log")
        self.spool = os.path.join(tmp, f"spool-{name}")
        write_config(self.cfg, self.fport, self.log, rport, self.spool)
        self.nginx = J.start_nginx(os.path.join(tmp, f"nginx-{name}"), self.port, self.fport, self.spool)
        self.n = 0
        self.start()

    def start(self):
        self.n += 1
        self.srv = S.Proc([S.FCGI, "--config", self.cfg], os.path.join(self.tmp, f"{self.name}-{self.n}.out"))
        return wait_for(lambda: len(S.ready_workers(self.port)) == 1, 60)

    def kill(self):
        return J.kill_all(self.srv, self.cfg)

    def stop(self):
        self.nginx.stop()
        self.srv.stop()

    def log_text(self):
        try:
            return open(self.log, errors="replace").read()
        except OSError:
            return ""


def test_startup_error(tmp):
    closed = free_port()  # nothing listens there
    cfg = os.path.join(tmp, "noredis.yaml")
    write_config(cfg, free_port(), os.path.join(tmp, "noredis.log"), closed, os.path.join(tmp, "spool-x"))
    out = os.path.join(tmp, "noredis.out")
    srv = S.Proc([S.FCGI, "--config", cfg], out)
    try:
        rc = srv.p.wait(20)
    except subprocess.TimeoutExpired:  # it runs without its store
        rc = "still running after 20 s"
        J.kill_all(srv, cfg)
    srv.log.close()
    err = open(out, errors="replace").read()
    check("Redis unreachable at start -> cutout-fcgi exits 1 naming the store and the reason",
          rc == 1 and f"redis://127.0.0.1:{closed}/{DB}" in err and "cannot connect to Redis" in err,
          f"rc {rc} {err[-300:]}")


def cli_refs(tmp, photos):
    refs = []
    for k, p in enumerate(photos):
        refs.append(S.cli([p, "-m", S.MODEL, "--max-size", "256x1000000"], os.path.join(tmp, f"cli-{k}.png")))
    return refs


def same_job_through(inst, jid, want, cli=None):
    """The job's JSON through an instance; its results have the bytes of
    `want` and the pixels of `cli` (the CLI's PNG encoder is not the
    server's: same pixels, other bytes)."""
    j = J.get_job(inst.port, jid)
    bad = []
    for i, ref in want.items():
        st, _, body = request(inst.port, "GET", f"/jobs/{jid}/items/{i}")
        same = st == 200 and body == ref
        if same and cli:
            same, detail = S.same_pixels(body, cli[i])
        if not same:
            bad.append((i, st, len(body)))
    return j, bad


def test_shared(a, b, jid, photos, refs):
    j, bad = same_job_through(b, jid, {0: refs[0], 1: refs[1], 3: refs[2], 4: refs[3]})
    check("a job posted to A is read through B: same status and counts, same result bytes",
          j and j["status"] == "done" and j["done"] == 4 and j["failed"] == 1 and not bad,
          f"{json.dumps(j)[:200] if j else None} {bad}")
    st, h, data = request(b.port, "GET", f"/jobs/{jid}/archive")
    check("the archive through B (4 results)", st == 200 and h.get("content-type") == "application/zip" and
          len(data) > sum(len(r) for r in refs), f"{st} {len(data)}")
    st, _, data = request(b.port, "GET", "/jobs?limit=100")
    ids = [x["id"] for x in json.loads(data)["jobs"]] if st == 200 else []
    check("B's listing holds A's jobs, newest first", jid in ids and len(ids) >= 2, str(ids[:3]))


def held_by(redis, pids):
    """Items in the processing lists of owners among pids (owner "PID:START@HOST#TAG")."""
    held = 0
    for key in redis.keys("cutout:proc:*"):
        owner = key[len("cutout:proc:"):]
        if int(owner.split(":")[0]) in pids:
            held += int(redis.cli("LLEN", key) or 0)
    return held


def test_stale_owner(a, b, redis, photos, refs):
    """A's worker stopped (SIGSTOP) while it holds an item, for longer than
    its lease: B takes the item over and records it; A, resumed, finishes
    its copy and must record nothing."""
    data = [open(p, "rb").read() for p in photos]
    n = 8
    files = [(f"s{i:02d}.jpg", data[i % 4]) for i in range(n)]
    st, _, body = J.post_job(a.port, files)
    jid = json.loads(body)["id"] if st == 202 else None
    check("stale owner: a job accepted by A", st == 202, f"{st} {body[:200]}")
    if not jid:
        return
    workers = S.children_of(a.srv.p.pid)
    wait_for(lambda: held_by(redis, workers) > 0, 60, 0.05)
    held = held_by(redis, workers)
    for w in workers:
        os.kill(w, signal.SIGSTOP)
    try:
        j = J.wait_job(b.port, jid, 180)
    finally:
        for w in workers:
            try:
                os.kill(w, signal.SIGCONT)
            except ProcessLookupError:  # the master's watchdog killed it meanwhile
                pass
    check("stale owner: B finished the job while A's worker was stopped with an item",
          held > 0 and j and j["status"] == "done" and j["done"] == n, f"held {held} {json.dumps(j)[:200] if j else ''}")
    # A resumes, finishes its copy and finds the item taken.
    wait_for(lambda: held_by(redis, workers) == 0, 60, 0.2)
    time.sleep(1)
    counts = redis.cli("HMGET", f"cutout:job:{jid}", "d", "f", "q", "r")
    j = J.get_job(a.port, jid)
    _, bad = same_job_through(a, jid, {i: refs[i % 4] for i in range(n)})
    alive = all(not S.gone(w) for w in workers)  # it did finish its copy: the check means something
    check("stale owner: A, resumed, recorded nothing (each item counted done once), results intact",
          alive and held_by(redis, workers) == 0 and counts == f"{n}\n0\n0\n0" and j and j["done"] == n and not bad,
          f"alive {alive} {counts!r} {bad[:3]}")


def test_crash(a, b, redis, photos, refs, cli):
    data = [open(p, "rb").read() for p in photos]
    files = [(f"p{i:02d}-{os.path.basename(photos[i % 4])}", data[i % 4]) for i in range(CRASH_ITEMS)]
    st, _, body = J.post_job(a.port, files)
    jid = json.loads(body)["id"] if st == 202 else None
    check(f"crash test: a {CRASH_ITEMS}-item job accepted by A", st == 202, f"{st} {body[:200]}")
    if not jid:
        return None
    # A holds an item (its processing list) once it has claimed one.
    pids = [a.srv.p.pid] + S.children_of(a.srv.p.pid)
    wait_for(lambda: held_by(redis, pids) > 0 and (J.get_job(a.port, jid) or {}).get("done", 0) >= 2, 120, 0.1)
    j = J.get_job(a.port, jid)
    held = held_by(redis, pids)
    pids = a.kill()
    check("crash test: killed (kill -9, master and worker) while the job is under way and A holds items",
          j and j["done"] < CRASH_ITEMS and held > 0 and all(S.gone(p) for p in pids),
          f"held {held} {json.dumps(j)[:200] if j else ''}")
    killed_at = time.time()
    j = J.wait_job(b.port, jid, 180)
    took = time.time() - killed_at
    check(f"crash test: B finishes the job ({CRASH_ITEMS} done, none failed)",
          j and j["status"] == "done" and j["done"] == CRASH_ITEMS and j["failed"] == 0 and
          j["running"] == 0 and j["queued"] == 0, json.dumps(j)[:300] if j else "timeout")
    check("crash test: B queued A's items again after A's lease expired (B's log)",
          "left running by a dead process queued again" in b.log_text() and took >= LEASE_S - 1,
          f"took {took:.1f} s")
    counts = dict(zip(["d", "f", "q", "r", "c"],
                      (redis.cli("HMGET", f"cutout:job:{jid}", "d", "f", "q", "r", "c") or "").split("\n")))
    outs = redis.keys(f"cutout:job:{jid}:out-*")
    check("crash test: exactly one result per item in Redis (done counted once each, one value each)",
          counts == {"d": str(CRASH_ITEMS), "f": "0", "q": "0", "r": "0", "c": "0"} and
          len(outs) == CRASH_ITEMS and not [k for k in redis.keys("cutout:proc:*") if redis.cli("LLEN", k) != "0"],
          f"{counts} {len(outs)} results")
    want = {i: refs[i % 4] for i in range(CRASH_ITEMS)}
    clis = {i: cli[i % 4] for i in range(CRASH_ITEMS)}
    _, bad = same_job_through(b, jid, want, clis)
    check("crash test: every result = the CLI's output (pixels) and /remove's (bytes), through B", not bad, str(bad[:4]))
    up = a.start()
    check("A restarted on the same Redis", up)
    _, bad = same_job_through(a, jid, want, clis)
    check("crash test: every result = the CLI's output, through the restarted A", not bad, str(bad[:4]))
    return jid


def test_redis_down(a, b, redis, photos, jid):
    files = [(os.path.basename(photos[0]), open(photos[0], "rb").read())]
    redis.kill()
    st, h, data = J.post_job(a.port, files)
    check("redis-server killed: POST /jobs -> 503 unavailable with Retry-After",
          st == 503 and S.is_error_json(data, "unavailable") and h.get("retry-after"), f"{st} {data[:200]}")
    st, h, data = request(b.port, "GET", f"/jobs/{jid}")
    check("redis-server killed: GET /jobs/ID -> 503 with Retry-After",
          st == 503 and S.is_error_json(data, "unavailable") and h.get("retry-after"), f"{st} {data[:200]}")
    st, _, data = request(b.port, "GET", f"/jobs/{jid}/items/0")
    check("redis-server killed: GET /jobs/ID/items/0 -> 503", st == 503, f"{st}")
    st, h, data = request(a.port, "POST", "/remove?" + J.OPTS, open(photos[1], "rb").read(),
                          {"Content-Type": "image/jpeg"})
    check("redis-server killed: POST /remove -> 200 all the same", st == 200 and h.get("content-type") == "image/png",
          f"{st}")
    st, _, _ = request(a.port, "GET", "/status")
    check("redis-server killed: /status -> 200", st == 200, f"{st}")
    check("the lost connection is logged", "Redis at 127.0.0.1" in a.log_text() and "lost" in a.log_text())
    check("redis-server started again", redis.start())
    got = wait_for(lambda: (lambda r: r if r[0] == 202 else None)(J.post_job(a.port, files)), 30, 0.5)
    check("jobs work again: POST /jobs -> 202", bool(got), "")
    if got:
        j = J.wait_job(b.port, json.loads(got[2])["id"], 120)
        check("jobs work again: the new job is done (read through B)",
              j and j["status"] == "done" and j["done"] == 1, json.dumps(j)[:200] if j else "timeout")


def main():
    os.makedirs(os.path.join(S.BUILD, "run"), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="jobs-redis-", dir=os.path.join(S.BUILD, "run"))
    photos = J.make_photos(tmp)
    test_startup_error(tmp)
    redis = Redis(tmp, free_port())
    a = b = None
    try:
        check("redis-server up", redis.cli("PING") == "PONG")
        a = Instance(tmp, "a", redis.port)
        b = Instance(tmp, "b", redis.port)
        up = wait_for(lambda: len(S.ready_workers(a.port)) == 1 and len(S.ready_workers(b.port)) == 1, 60)
        if check("instances A and B (nginx + cutout-fcgi, jobs.store redis://) up", up,
                 open(os.path.join(tmp, "a-1.out"), errors="replace").read()[-500:]):
            refs = []
            for p in photos:
                st, _, data = request(a.port, "POST", "/remove?" + J.OPTS, open(p, "rb").read(),
                                      {"Content-Type": "image/jpeg"})
                refs.append(data if st == 200 else None)
            cli = cli_refs(tmp, photos)
            same = [S.same_pixels(r, c) for r, c in zip(refs, cli)] if all(refs) else [(False, "no ref")]
            check("references: POST /remove and the CLI give the same pixels", all(s for s, _ in same), str(same))
            jid = J.test_api(a.port, tmp, a.spool, photos, refs)
            check("nothing written to jobs.dir with Redis", J.dirs_in(a.spool) == [], str(J.dirs_in(a.spool)))
            if jid:
                test_shared(a, b, jid, photos, refs)
            test_stale_owner(a, b, redis, photos, refs)
            cid = test_crash(a, b, redis, photos, refs, cli)
            if cid:
                test_redis_down(a, b, redis, photos, cid)
    finally:
        for inst in (a, b):
            if inst:
                inst.stop()
        if redis.proc.alive():
            redis.proc.stop()
    return J.finish(tmp, "jobs_redis")


if __name__ == "__main__":
    sys.exit(main())
