#!/usr/bin/env bash
# bench/gpu.sh: the OpenCL backend on a real GPU: probe, parity, speed against
# PyTorch CUDA fp32 running the same architecture in the same run.
#
#   bench/gpu.sh stage [BUILD]
#       On the build machine: builds, then copies what a GPU machine without
#       cutout's build dependencies needs into .gpu/ (gitignored): cutout-bench,
#       net_run and test_backend_cl, with libclblast and the OpenCL ICD loader.
#   bench/gpu.sh [run] [--build DIR] [--allow-cpu] [--skip-parity]
#       On the GPU machine: probes the driver and the OpenCL installation,
#       runs the parity tests (every kernel against the CPU backend; the whole
#       network against PyTorch and the CPU backend), then the benchmarks, and
#       writes bench/results/gpu-<date>.md (also into $OUT when that is set).
#       DIR defaults to .gpu/build when staged, else build (made if missing).
#       --allow-cpu runs without a GPU (PoCL, PyTorch on the CPU): a dry run of
#       this script, never a GPU result.
#
# Cases (knobs in the environment): u2net at 320x320 batch U2NET_BATCH (16),
# isnet at ISNET_SIZE (1024) batch ISNET_BATCH (4), u2netp at 320x320 batch 1;
# ITER (20) / WARMUP (3) timed / untimed passes for each runtime.
# The u2net and isnet weights are random exports of tests/reference's model
# (fp32 speed does not depend on the values); u2netp is the shipped file.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

die() { echo "gpu.sh: $*" >&2; exit 2; }

stage() {
    local build=${1:-build}
    make -j"$(nproc)" BUILD="$build" all >/dev/null || die "build failed"
    rm -rf .gpu && mkdir -p .gpu/build/tests .gpu/lib
    cp "$build/cutout-bench" .gpu/build/
    cp "$build/tests/net_run" "$build/tests/test_backend_cl" .gpu/build/tests/
    # libclblast and the ICD loader (ocl-icd) may be missing there; libc and
    # libstdc++ are not (and a newer one there still runs these).
    local lib
    for lib in libclblast.so.1 libOpenCL.so.1; do
        cp -L "$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')" .gpu/lib/ ||
            die "$lib not found"
    done
    du -sh .gpu
    echo "staged: carry .gpu and run bench/gpu.sh there"
}

case "${1:-run}" in
stage) shift; stage "$@"; exit ;;
run) [ $# -gt 0 ] && shift ;;
--*) ;;
*) die "usage: bench/gpu.sh stage [BUILD] | bench/gpu.sh [run] [--build DIR] [--allow-cpu] [--skip-parity]" ;;
esac

build= allow_cpu=0 skip_parity=0
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2; shift 2 ;;
    --allow-cpu) allow_cpu=1; shift ;;
    --skip-parity) skip_parity=1; shift ;;
    *) die "unknown option $1" ;;
    esac
done
if [ -z "$build" ]; then
    if [ -x .gpu/build/cutout-bench ]; then build=.gpu/build; else build=build; fi
fi
[ -d .gpu/lib ] && export LD_LIBRARY_PATH=$root/.gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
if [ ! -x "$build/cutout-bench" ]; then
    make -j"$(nproc)" BUILD="$build" all >/dev/null 2>&1 ||
        die "no $build/cutout-bench and it cannot be built here (missing build dependencies?): run 'bench/gpu.sh stage' on a build machine and carry .gpu"
fi

# The Python that has PyTorch: Debian's /usr/bin/python3, or the first python3.
py=python3
/usr/bin/python3 -c 'import torch' 2>/dev/null && py=/usr/bin/python3
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell} PYTHONWARNINGS=ignore

u2net_batch=${U2NET_BATCH:-16} isnet_batch=${ISNET_BATCH:-4} isnet_size=${ISNET_SIZE:-1024}
iter=${ITER:-20} warmup=${WARMUP:-3}

mkdir -p bench/results
out=bench/results/gpu-$(date +%Y-%m-%d).md
[ -e "$out" ] && out=bench/results/gpu-$(date +%Y-%m-%d-%H%M%S).md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
report() { printf '%s\n' "$@" >>"$out"; }
section_cmd() { report '```' "\$ $*"; "$@" >"$work/o" 2>&1; local rc=$?; cat "$work/o" >>"$out"; report '```'; return $rc; }

report "# cutout OpenCL on a GPU, $(date -u '+%Y-%m-%d %H:%M UTC')" "" \
    "Written by \`bench/gpu.sh $( [ $allow_cpu = 1 ] && echo --allow-cpu)\` (build: \`$build\`, git $(git rev-parse --short HEAD 2>/dev/null || echo '?'))." ""
[ $allow_cpu = 1 ] && report "**--allow-cpu: a dry run of the script without a GPU. Not a GPU result.**" ""

# ---------------------------------------------------------------- probe
report "## Probe" ""
have_nvidia=0
if command -v nvidia-smi >/dev/null; then
    have_nvidia=1
    section_cmd nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
else
    report "- nvidia-smi: not found"
fi
loader=$(ldconfig -p | awk '$1 == "libOpenCL.so.1" { print $NF; exit }')
[ -z "$loader" ] && [ -e .gpu/lib/libOpenCL.so.1 ] && loader="$root/.gpu/lib/libOpenCL.so.1 (staged)"
report "- OpenCL ICD loader (libOpenCL.so.1): ${loader:-MISSING}"
report "- ICD files in /etc/OpenCL/vendors: $(cd /etc/OpenCL/vendors 2>/dev/null && for f in *.icd; do [ -e "$f" ] && printf '%s -> %s; ' "$f" "$(cat "$f")"; done)"
nv_lib=$( (ldconfig -p | awk '$1 ~ /^libnvidia-opencl\.so/ { print $NF }'
    find /usr/lib /usr/lib64 /usr/local/nvidia /usr/local/cuda* -name 'libnvidia-opencl.so*' 2>/dev/null) |
    sort -u | head -1)
report "- NVIDIA OpenCL library (libnvidia-opencl.so.1): ${nv_lib:-MISSING}"
if [ -n "$nv_lib" ] && ! grep -qs libnvidia-opencl /etc/OpenCL/vendors/*.icd; then
    # The driver's library is there but not registered: register it for
    # this run only (ocl-icd reads OCL_ICD_VENDORS, Khronos' loader
    # OCL_ICD_FILENAMES).
    mkdir -p "$work/vendors"
    echo "$nv_lib" >"$work/vendors/nvidia.icd"
    export OCL_ICD_VENDORS=$work/vendors OCL_ICD_FILENAMES=$nv_lib
    report "- registered for this run: OCL_ICD_VENDORS=$work/vendors (nvidia.icd -> $nv_lib)"
fi
if [ $have_nvidia = 1 ] && [ -z "$nv_lib" ]; then
    report "" "**NVIDIA's OpenCL driver library is missing**: the GPU works for CUDA but no OpenCL" \
        "program can use it. An operator installs the driver's OpenCL part, of the same version" \
        "as the kernel driver (nvidia-smi above): Debian \`apt install nvidia-opencl-icd\`," \
        "Ubuntu \`apt install libnvidia-compute-<major>\` (it ships libnvidia-opencl.so.1 and" \
        "/etc/OpenCL/vendors/nvidia.icd); in a container, run with" \
        "NVIDIA_DRIVER_CAPABILITIES including \`compute\` so the runtime mounts" \
        "libnvidia-opencl.so.1, and create /etc/OpenCL/vendors/nvidia.icd containing" \
        "\`libnvidia-opencl.so.1\`. The ICD loader (libOpenCL.so.1) comes from \`ocl-icd-libopencl1\`."
fi

require=(--require-gpu)
[ $allow_cpu = 1 ] && require=()
report "" "cutout's view (u2netp, batch 1, --backend opencl ${require[*]}):" ""
if section_cmd "$build/cutout-bench" --model models/u2netp.onnx --backend opencl "${require[@]}" \
    --iterations 2 --warmup 1; then
    cl_ok=1
else
    cl_ok=0
    report "" "**cutout cannot run on a GPU here**: the parity and cutout speed rows are skipped;" \
        "PyTorch's rows still show what the GPU does."
fi

# ---------------------------------------------------------------- parity
if [ $cl_ok = 1 ] && [ $skip_parity = 0 ]; then
    report "" "## Parity" ""
    report "Every OpenCL kernel against the CPU backend and the naive reference on odd shapes:" ""
    section_cmd bash -c "'$build/tests/test_backend_cl' | tail -3"
    report "" "The whole network against float64 PyTorch and the CPU backend (tests/reference):" ""
    section_cmd tests/reference/run "$build" --backend opencl
fi

# ---------------------------------------------------------------- speed
report "" "## Speed" ""
models=$work/models
mkdir -p "$models"
export_model() { # arch -> path of a random-weight export (cached like the reference suite's)
    (cd tests/reference && "$py" -c "
import export_random, sys
print(export_random.ensure_exported('$1', 1, 'out/models')[0])" 2>"$work/export.err" | tail -1) ||
        { cat "$work/export.err" >&2; return 1; }
}
u2net_model=$(export_model u2net) && u2net_model=tests/reference/$u2net_model || die "u2net export failed"
isnet_model=$(export_model isnet) && isnet_model=tests/reference/$isnet_model || die "isnet export failed"

# GPU fp32 peak: SMs x FP32 lanes per SM x 2 (FMA) x max SM clock.
peak_tflops=$("$py" - <<'EOF' 2>/dev/null
import subprocess, torch
p = torch.cuda.get_device_properties(0)
lanes = {(7, 0): 64, (7, 5): 64, (8, 0): 64, (8, 6): 128, (8, 9): 128, (9, 0): 128}.get((p.major, p.minor))
mhz = float(subprocess.check_output(["nvidia-smi", "--query-gpu=clocks.max.sm",
                                     "--format=csv,noheader,nounits"]).split()[0])
print("%.1f" % (p.multi_processor_count * lanes * 2 * mhz * 1e6 / 1e12) if lanes else "")
EOF
)
[ -n "$peak_tflops" ] && report "GPU fp32 peak (SMs × FP32 lanes × 2 × max SM clock): ${peak_tflops} TFLOP/s." ""

torch_dev=cuda
[ $have_nvidia = 1 ] || torch_dev=cpu
report "| network | size | batch | runtime | images/s | median ms | GFLOP/s (conv) | of fp32 peak | command |" \
    "|---|---|---|---|---|---|---|---|---|"
row() { # network size batch runtime json command
    "$py" - "$@" "$peak_tflops" >>"$out" <<'EOF'
import json, sys
net, size, batch, runtime, js, cmd, peak = sys.argv[1:8]
try:
    j = json.loads(js.strip().splitlines()[-1])
except Exception:
    print("| %s | %s | %s | %s | failed: %s | | | | `%s` |" % (net, size, batch, runtime, js.strip()[-200:].replace("|", "/").replace("\n", " "), cmd))
    sys.exit()
# per image: cutout-bench's "gmac" is per pass (batch x per image)
if "gmac_per_image" in j:
    gflop = j["gmac_per_image"] * 2
elif "gmac" in j:  # a cutout-bench from before gmac_per_image
    gflop = j["gmac"] * 2 / int(batch)
else:
    gflop = j["gflop_per_image"]
rate = gflop * j["images_per_s"]
frac = "%.1f%%" % (100 * rate / 1e3 / float(peak)) if peak else ""
print("| %s | %s | %s | %s | %.2f | %.1f | %.0f | %s | `%s` |" % (
    net, size, batch, runtime, j["images_per_s"], j["median_ms"], rate, frac, cmd))
EOF
}
bench_case() { # net model size batch
    local net=$1 model=$2 size=$3 batch=$4 cmd js
    if [ $cl_ok = 1 ]; then
        cmd="$build/cutout-bench --model $model --backend opencl ${require[*]} --batch $batch --size ${size}x$size"
        # Direct-vs-GEMM choices measured (and cached) ahead, so the timed
        # runs and first_ms are those of a tuned start.
        $cmd --tune --iterations 1 --warmup 0 >"$work/tune.json" 2>"$work/tune.err" ||
            report "(--tune failed: $(tail -c 300 "$work/tune.err"))"
        js=$($cmd --iterations "$iter" --warmup "$warmup" 2>"$work/err" || tail -c 300 "$work/err")
        row "$net" "$size" "$batch" "cutout OpenCL" "$js" "$cmd --iterations $iter --warmup $warmup"
    fi
    cmd="$py bench/torch_bench.py --arch $net --batch $batch --size $size --device $torch_dev --iterations $iter --warmup $warmup"
    js=$($cmd 2>"$work/err" || tail -c 300 "$work/err")
    row "$net" "$size" "$batch" "PyTorch fp32" "$js" "$cmd"
    if [ $torch_dev = cuda ]; then
        js=$($cmd --tf32 2>"$work/err" || tail -c 300 "$work/err")
        row "$net" "$size" "$batch" "PyTorch TF32 (not fp32)" "$js" "$cmd --tf32"
    fi
}
bench_case u2net "$u2net_model" 320 "$u2net_batch"
bench_case isnet "$isnet_model" "$isnet_size" "$isnet_batch"
bench_case u2netp models/u2netp.onnx 320 1

report "" "GFLOP/s counts the convolutions' 2 × multiply-adds per image (cutout-bench's gmac_per_image," \
    "torch_bench's hook count: the same number) times images/s; PyTorch fp32 has TF32 off."
if [ -n "${OUT:-}" ] && [ -d "${OUT:-}" ]; then cp "$out" "$OUT/"; fi
echo "gpu.sh: wrote $out"
cat "$out"
