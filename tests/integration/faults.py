#!/usr/bin/python3
"""Fault injection under load: cutout-fcgi behind nginx on 127.0.0.1.

usage: /usr/bin/python3 tests/integration/faults.py BUILD_DIR

One server (2 workers x 2 threads) and nginx, started with the helpers of
servers.py. Each case runs a bounded load (4 client threads, 8 s of POST
/remove of a small PNG on kept-alive connections), injects one fault 2 s in,
and counts the answers that are not 200 image/png:
  kill -9 of the busiest worker  at most its in-flight requests may fail
  SIGHUP reload                  none may fail; a new generation serves
  model file replaced by garbage, then SIGHUP
                                 none may fail; the reload is refused with a
                                 log line and the old workers keep serving
  log file on a full filesystem  none may fail (a 64 KiB tmpfs when root,
                                 else /dev/full as the log file)
After each case 4 more requests must get 200. Prints the counts per case and
"N passed, N failed".
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import io

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers as S  # noqa: E402  (reads BUILD from sys.argv like this script)

THREADS = 2  # per worker: the most a killed worker can hold in flight


def load(port, body, seconds=8.0, clients=4, fault=None, at=2.0):
    """Concurrent POST /remove for `seconds`; fault() runs `at` s in.
    Returns (ok, failures as strings, what fault returned)."""
    end = time.time() + seconds
    ok, bad, mu = [0], [], threading.Lock()

    def client():
        conn = None
        while time.time() < end:
            try:
                if conn is None:
                    conn = S.http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                st, h, d = S.request(port, "POST", "/remove", body, {"Content-Type": "image/png"}, conn=conn)
                good = st == 200 and h.get("content-type") == "image/png"
                with mu:
                    if good:
                        ok[0] += 1
                    else:
                        bad.append(f"{st} {d[:80]!r}")
            except Exception as e:
                with mu:
                    bad.append(repr(e))
                conn = None
    ts = [threading.Thread(target=client) for _ in range(clients)]
    for t in ts:
        t.start()
    got = None
    if fault:
        time.sleep(at)
        got = fault()
    for t in ts:
        t.join()
    return ok[0], bad, got


def after_ok(port, body):
    codes = [S.request(port, "POST", "/remove", body, {"Content-Type": "image/png"})[0] for _ in range(4)]
    return codes == [200] * 4, codes


def report(name, ok, bad, allowed):
    print(f"     {name}: {ok} answered 200, {len(bad)} failed (at most {allowed} allowed)"
          + (f"; first: {bad[:2]}" if bad else ""), flush=True)
    return S.check(f"{name}: failed requests {len(bad)} <= {allowed}", len(bad) <= allowed, str(bad[:3]))


def log_text(path):
    try:
        return open(path, errors="replace").read()
    except OSError:
        return ""


class Server:
    """cutout-fcgi + nginx with the model (and the log) where the case wants them."""

    def __init__(self, tmp, name, model, log):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.fport, self.port = S.free_port(), S.free_port()
        self.cfg, self.log = os.path.join(self.dir, "cutout.yaml"), log
        S.write_config(self.cfg, self.fport, log, workers=2, threads=THREADS, delay=5)
        text = open(self.cfg).read().replace(S.MODEL, model)
        open(self.cfg, "w").write(text)
        self.srv = S.Proc([S.FCGI, "--config", self.cfg], os.path.join(self.dir, "server.out"))
        self.nginx = S.start_nginx(os.path.join(self.dir, "nginx"), self.port, self.fport)
        self.up = S.wait_for(lambda: len(S.ready_workers(self.port)) == 2, 60)

    def out(self):
        return log_text(os.path.join(self.dir, "server.out"))

    def stop(self):
        self.nginx.stop()
        self.srv.stop()


def busiest_worker(port):
    ws = S.ready_workers(port)
    return max(ws, key=lambda w: w.get("inflight", 0)) if ws else None


def case_kill(tmp, body):
    s = Server(tmp, "kill", S.MODEL, os.path.join(tmp, "kill", "server.log"))
    try:
        if not S.check("kill -9: servers up", s.up, s.out()[-300:]):
            return

        def fault():
            w = busiest_worker(s.port)
            os.kill(w["pid"], signal.SIGKILL)
            return w["pid"]
        ok, bad, victim = load(s.port, body, fault=fault)
        report("kill -9 of a worker under load", ok, bad, THREADS)
        S.check("kill -9: the worker was replaced",
                S.wait_for(lambda: len(S.ready_workers(s.port)) == 2 and
                           victim not in [w["pid"] for w in S.ready_workers(s.port)], 30))
        good, codes = after_ok(s.port, body)
        S.check("kill -9: serving afterwards", good, str(codes))
    finally:
        s.stop()


def case_reload(tmp, body):
    d = os.path.join(tmp, "reload")
    os.makedirs(d, exist_ok=True)
    model = os.path.join(d, "model.onnx")
    shutil.copyfile(S.MODEL, model)
    s = Server(tmp, "reload", model, os.path.join(d, "server.log"))
    try:
        if not S.check("reload: servers up", s.up, s.out()[-300:]):
            return
        gen0 = max(w["generation"] for w in S.ready_workers(s.port))

        def hup():
            os.kill(s.srv.p.pid, signal.SIGHUP)
        ok, bad, _ = load(s.port, body, fault=hup)
        report("SIGHUP reload under load", ok, bad, 0)
        S.check("reload: a new generation serves",
                S.wait_for(lambda: len(S.ready_workers(s.port, gen0 + 1)) == 2, 60), str(S.master_status(s.port)))
        gen1 = gen0 + 1
        pids = sorted(w["pid"] for w in S.ready_workers(s.port, gen1))

        def garbage():
            tmpf = model + ".new"
            with open(tmpf, "wb") as f:
                f.write(b"this is not an ONNX model\n" * 1000)
            os.replace(tmpf, model)
            os.kill(s.srv.p.pid, signal.SIGHUP)
        ok, bad, _ = load(s.port, body, fault=garbage)
        report("model replaced by garbage + SIGHUP under load", ok, bad, 0)
        time.sleep(1)
        ws = S.ready_workers(s.port)
        now = sorted(w["pid"] for w in ws)
        S.check("garbage model: the old workers keep serving (same pids, same generation)",
                now == pids and all(w["generation"] == gen1 for w in ws), f"{pids} -> {ws}")
        refused = [line for line in log_text(s.log).splitlines() if "SIGHUP" in line and
                   ("not reloaded" in line or "did not become ready" in line)]
        print(f"     refusal logged: {refused[-1][:200] if refused else None}", flush=True)
        S.check("garbage model: the reload is refused with a log line", refused, log_text(s.log)[-500:])
        good, codes = after_ok(s.port, body)
        S.check("garbage model: serving afterwards", good, str(codes))
    finally:
        s.stop()


def case_full_disk(tmp, body):
    d = os.path.join(tmp, "disk")
    mnt = os.path.join(d, "logfs")
    os.makedirs(mnt, exist_ok=True)
    mounted = os.getuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt]).returncode == 0
    log = os.path.join(mnt, "server.log") if mounted else "/dev/full"
    print(f"     full disk: log file {log} ({'64 KiB tmpfs' if mounted else '/dev/full'})", flush=True)
    s = Server(tmp, "disk", S.MODEL, log)
    try:
        if not S.check("full disk: servers up", s.up, s.out()[-300:]):
            return

        def fill():
            if mounted:  # what the log has not taken yet
                subprocess.run(["dd", "if=/dev/zero", f"of={mnt}/filler", "bs=4k"],
                               stderr=subprocess.DEVNULL)
                return shutil.disk_usage(mnt).free
        ok, bad, free = load(s.port, body, fault=fill)
        report("log file on a full filesystem under load", ok, bad, 0)
        if mounted:
            S.check("full disk: the filesystem really is full", free is not None and free < 4096, str(free))
        good, codes = after_ok(s.port, body)
        S.check("full disk: serving afterwards", good, str(codes))
        S.check("full disk: the master is alive", s.srv.alive())
    finally:
        s.stop()
        if mounted:
            subprocess.run(["umount", mnt])


def main():
    os.makedirs(os.path.join(S.BUILD, "run"), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="faults-", dir=os.path.join(S.BUILD, "run"))
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buf, "PNG")
    body = buf.getvalue()
    only = os.environ.get("CUTOUT_FAULTS_ONLY", "kill,reload,full_disk").split(",")
    for name in only:
        globals()["case_" + name](tmp, body)
    return S.finish(tmp, "faults: ")


if __name__ == "__main__":
    sys.exit(main())
