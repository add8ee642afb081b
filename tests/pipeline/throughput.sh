#!/usr/bin/env bash
# tests/pipeline/throughput.sh BUILD [N] [THREADS]: folder throughput of the
# cutout CLI (decode + preprocess + forward + mask + encode + write, the
# three pipeline threads overlapping) next to cutout-bench's forward-only
# rate, measured in the same run on the same machine. Not a pass/fail test:
# it prints both rates and their ratio.
set -eu
build=${1:-build}; n=${2:-24}; threads=${3:-2}
cd "$(dirname "$0")/../.."
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp/in" "$n" <<'PY'
import os, sys
import skimage.data as d
from PIL import Image
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
names = ["astronaut", "coffee", "chelsea", "rocket"]
for i in range(n):
    name = names[i % 4]
    Image.fromarray(getattr(d, name)()).save(os.path.join(out, "%03d-%s.jpg" % (i, name)), quality=92)
PY
bench=$("$build/cutout-bench" --model models/u2netp.onnx --backend cpu --threads "$threads" \
        --iterations 10 --warmup 2)
fwd=$(printf '%s' "$bench" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["images_per_s"])')
t0=$(date +%s.%N)
"$build/cutout" -q -t "$threads" "$tmp/in" -o "$tmp/out"
t1=$(date +%s.%N)
made=$(ls "$tmp/out" | wc -l)
/usr/bin/python3 - "$n" "$made" "$t0" "$t1" "$fwd" "$threads" <<'PY'
import sys
n, made, t0, t1, fwd, th = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
rate = n / (t1 - t0)
print("threads %s: cutout folder of %d photos (512x512..640x427 JPEG -> RGBA PNG): %.2f images/s "
      "(%.2f s, %d written, model load included); cutout-bench forward only: %.2f images/s; "
      "ratio %.2f" % (th, n, rate, t1 - t0, made, fwd, rate / fwd))
PY
