#!/usr/bin/env bash
# bench/jobs_bench.sh [BUILD] [N]: N photos (default 100: the skimage originals
# astronaut, coffee, chelsea, rocket, motorcycle at their own 0.1-0.4 MP, cycled)
# through nginx + cutout-fcgi on 127.0.0.1 three ways, end to end:
#   job   one POST /jobs of all N, polled, every result downloaded (submit to last result)
#   sync  POST /remove one by one on one connection (the same photos and options)
#   cli   cutout --server URL DIR -o OUT (upload, progress, download)
#   local cutout DIR -o OUT on this machine, no server (the same options)
# Then priority: POST /remove at concurrency 4 (LAT_N requests, default 40),
# p50/p99 latency alone and while a job of the N photos runs.
# Images/s and latencies into bench/results/jobs-DATE.md with the CPU model
# and the load average at the start and the end.
# Server: 2 workers x 2 threads, batch.max_size 4, cpu backend, 1 network thread
# per worker.
set -euo pipefail
build=${1:-build}
n=${2:-100}
cd "$(dirname "$0")/.."
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
exec /usr/bin/python3 - "$build" "$n" <<'PY'
import json, os, subprocess, sys, tempfile, time, io
build, n = sys.argv[1], int(sys.argv[2])
sys.argv = [sys.argv[0], build]
sys.path.insert(0, "tests/integration")
import servers as S
import jobs as J
from PIL import Image
import skimage.data as data

load0 = open("/proc/loadavg").read().split()[:3]
lat_n = int(os.environ.get("LAT_N", "40"))
os.makedirs(os.path.join(S.BUILD, "run"), exist_ok=True)
tmp = tempfile.mkdtemp(prefix="jobs-bench-", dir=os.path.join(S.BUILD, "run"))
src = os.path.join(tmp, "photos")
os.makedirs(src)
subjects = [("astronaut", data.astronaut()), ("coffee", data.coffee()), ("chelsea", data.chelsea()),
            ("rocket", data.rocket()), ("motorcycle", data.stereo_motorcycle()[0])]
for i in range(n):
    name, arr = subjects[i % len(subjects)]
    Image.fromarray(arr).save(os.path.join(src, f"{i:03d}-{name}.jpg"), quality=90)
files = sorted(os.listdir(src))
fport, port = S.free_port(), S.free_port()
db, spool = os.path.join(tmp, "jobs.db"), os.path.join(tmp, "spool")
os.makedirs(spool)
cfg, log = os.path.join(tmp, "cutout.yaml"), os.path.join(tmp, "server.log")
S.write_config(cfg, fport, log, workers=2, threads=2, batch_size=4, delay=5)
with open(cfg, "a") as f:
    f.write(f"jobs:\n  store: sqlite:{db}\n  dir: {spool}\n  max_items: {max(n, 1)}\n")
srv = S.Proc([S.FCGI, "--config", cfg], os.path.join(tmp, "server.out"))
nginx = J.start_nginx(os.path.join(tmp, "nginx"), port, fport, spool)
res = {}
try:
    assert S.wait_for(lambda: len(S.ready_workers(port)) == 2, 60), "server did not start"
    blobs = [(f, open(os.path.join(src, f), "rb").read()) for f in files]
    # warm-up: each worker creates its engine on first use
    for f, b in blobs[:4]:
        S.request(port, "POST", "/remove", b, {"Content-Type": "image/jpeg"})
    t0 = time.time()
    st, _, body = J.post_job(port, blobs, "")
    jid = json.loads(body)["id"]
    j = J.wait_job(port, jid, 3600)
    got = sum(1 for i in range(n) if S.request(port, "GET", f"/jobs/{jid}/items/{i}")[0] == 200)
    res["job"] = (time.time() - t0, got)
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    t0 = time.time()
    ok = sum(1 for f, b in blobs if S.request(port, "POST", "/remove", b, {"Content-Type": "image/jpeg"}, conn=conn)[0] == 200)
    res["sync"] = (time.time() - t0, ok)
    t0 = time.time()
    r = subprocess.run([S.CLI, "--server", f"http://127.0.0.1:{port}", "-q", src, "-o", os.path.join(tmp, "out")],
                       capture_output=True, text=True)
    res["cli"] = (time.time() - t0, len(os.listdir(os.path.join(tmp, "out"))) if r.returncode == 0 else 0)

    def latencies():
        """lat_n POST /remove at concurrency 4 (one connection each): sorted seconds, non-200 count."""
        import threading
        times, bad, lock, nxt = [], [0], threading.Lock(), [0]

        def client():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            while True:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= lat_n:
                    break
                f, b = blobs[i % len(blobs)]
                s0 = time.time()
                code = S.request(port, "POST", "/remove", b, {"Content-Type": "image/jpeg"}, conn=c)[0]
                with lock:
                    times.append(time.time() - s0)
                    bad[0] += code != 200
            c.close()
        th = [threading.Thread(target=client) for _ in range(4)]
        for x in th:
            x.start()
        for x in th:
            x.join()
        return sorted(times), bad[0]

    def pct(v, q):
        return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")
    alone, bad_alone = latencies()
    st, _, body = J.post_job(port, blobs, "")
    jid2 = json.loads(body)["id"]
    time.sleep(1.0)  # the job under way
    d0 = J.get_job(port, jid2)["done"]
    during, bad_during = latencies()
    d1 = J.get_job(port, jid2)["done"]
    res["lat"] = (alone, bad_alone, during, bad_during, d1 - d0, pct)
    J.wait_job(port, jid2, 3600)
    st = S.master_status(port)
finally:
    nginx.stop()
    srv.stop()
t0 = time.time()
r = subprocess.run([S.CLI, "-b", "cpu", "-q", src, "-o", os.path.join(tmp, "out-local")], capture_output=True, text=True)
res["local"] = (time.time() - t0, len(os.listdir(os.path.join(tmp, "out-local"))) if r.returncode == 0 else 0)
cpu = [l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines() if l.startswith("Model name")][0]
load = open("/proc/loadavg").read().split()[:3]
date = time.strftime("%Y-%m-%d")
lines = [f"# Jobs vs /remove vs cutout --server ({date})", "",
         f"`bench/jobs_bench.sh {build} {n}`: {n} photos (skimage originals, 0.1-0.4 MP JPEG), nginx + cutout-fcgi",
         "on 127.0.0.1 (2 workers x 2 threads, batch.max_size 4, cpu backend, cpu_threads 1).", "",
         f"CPU: {cpu}, {os.cpu_count()} CPUs; load average {' '.join(load0)} at the start, {' '.join(load)} at the end",
         "(other work on the machine makes absolute numbers noisy: compare the rows of one run).", "",
         "| path | images | seconds | images/s |", "|---|---|---|---|"]
for k, label in (("job", "one job: POST /jobs, poll, download every result"),
                 ("sync", "POST /remove one by one (one connection)"),
                 ("cli", "cutout --server DIR -o OUT"),
                 ("local", "cutout DIR -o OUT (no server, -b cpu)")):
    secs, got = res[k]
    lines.append(f"| {label} | {got}/{n} | {secs:.1f} | {got / secs:.2f} |")
alone, bad_alone, during, bad_during, progressed, pct = res["lat"]
lines += ["", f"Priority: {lat_n} POST /remove at concurrency 4, alone and while a {n}-photo job runs",
          f"(the job finished {progressed} items meanwhile; the runner claims items only while the",
          "inference queue is idle).", "",
          "| /remove | p50 s | p99 s | non-200 |", "|---|---|---|---|",
          f"| alone | {pct(alone, 0.5):.3f} | {pct(alone, 0.99):.3f} | {bad_alone} |",
          f"| with a job running | {pct(during, 0.5):.3f} | {pct(during, 0.99):.3f} | {bad_during} |"]
out = f"bench/results/jobs-{date}.md"
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
print("written:", out)
PY
