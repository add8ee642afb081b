#!/bin/bash
# Compares cutout's CPU kernel families (CUTOUT_ISA) on one machine, with
# ONNX Runtime in the same run when bench/node_modules has it.
#
#   bench/isa_compare.sh [BUILD_DIR] [MODEL] [ROUNDS]   (defaults: build models/u2netp.onnx 3)
#   THREADS=2 ITER=30 ISAS="avx2 avx512"
#
# Each round runs every ISA and ORT in turn (interleaved, so that a change in
# the machine's load hits them alike) and prints, per runtime:
#   wall: cutout-bench's / ort_bench.js's median and min ms at THREADS threads;
#   cpu:  CPU seconds (user + system) per forward pass on one thread, from the
#         difference of a 21-pass and a 1-pass run (load, weight transforms
#         and process start cancel). On a shared, loaded machine the wall
#         times measure the neighbours; the CPU time much less so.
# The load average is printed before each round.
set -euo pipefail
build=${1:-build}
model=${2:-models/u2netp.onnx}
rounds=${3:-3}
threads=${THREADS:-2}
iter=${ITER:-30}
isas=${ISAS:-avx2 avx512}
cd "$(dirname "$0")/.."
ort=0
[ -d bench/node_modules/onnxruntime-node ] && ort=1

cpu_s() { # CPU seconds of a command
    /usr/bin/time -f "%U %S" -o "$tmp" "$@" > /dev/null 2>&1
    awk '{print $1 + $2}' "$tmp"
}
per_pass() { # command... : ms of CPU per pass (its last argument is the iteration count)
    local a b
    a=$(cpu_s "$@" --iterations 1)
    b=$(cpu_s "$@" --iterations 21)
    awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", (b - a) * 1000 / 20 }'
}
wall() { # JSON line -> "median min"
    sed -n 's/.*"median_ms":\([0-9.]*\),"min_ms":\([0-9.]*\).*/median \1 min \2/p'
}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'); nproc $(nproc)"
for r in $(seq "$rounds"); do
    echo "round $r, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    for isa in $isas; do
        w=$(CUTOUT_ISA=$isa "$build/cutout-bench" --model "$model" --backend cpu --threads "$threads" \
            --iterations "$iter" | wall)
        c=$(CUTOUT_ISA=$isa per_pass "$build/cutout-bench" --model "$model" --backend cpu --threads 1 \
            --warmup 0)
        echo "  cutout $isa: wall $w ms ($threads threads); cpu $c ms per pass (1 thread)"
    done
    if [ $ort = 1 ]; then
        w=$(node bench/ort_bench.js "$model" --threads "$threads" --iterations "$iter" | wall)
        c=$(per_pass node bench/ort_bench.js "$model" --threads 1 --warmup 0)
        echo "  onnxruntime: wall $w ms ($threads threads); cpu $c ms per pass (1 thread)"
    fi
done
echo "end, load average $(cut -d' ' -f1-3 /proc/loadavg)"
