#!/usr/bin/env bash
# bench/cold_start.sh [BUILD] [RUNS]: the cold start of the CLI, whole process:
# `cutout --mask` of one 770x595 photo with u2netp on 2 threads (issue 16's
# goal: <= 0.3 s wall), RUNS times (default 7) per variant, medians of wall
# time, CPU time (user+sys, all threads) and minor page faults, with the share
# of the machine's CPU that other processes used meanwhile. Variants: the CPU
# backend with the weight cache warm (one untimed run first), the same with
# the cache off (CUTOUT_WEIGHT_CACHE=0), and `-b auto` (the default: probes
# OpenCL first). The photo: tests/fixtures/rembg/anime-girl-1.jpg resized to
# 770x595 with PIL LANCZOS, JPEG quality 90. Writes
# bench/results/cold-start-<date>.md (OUT overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-7}
out=${OUT:-bench/results/cold-start-$(date +%Y-%m-%d).md}
cutout=$build/cutout
[ -x "$cutout" ] || { echo "bench/cold_start.sh: no $cutout (make all)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work/photo.jpg" <<'EOF'
import sys
from PIL import Image
im = Image.open("tests/fixtures/rembg/anime-girl-1.jpg").convert("RGB")
im.resize((770, 595), Image.LANCZOS).save(sys.argv[1], quality=90)
EOF

busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
hz=$(getconf CLK_TCK)
ncpu=$(nproc)

# variant NAME ENV... -- ARGS: RUNS timed runs; appends "NAME wall cpu faults others%"
rows="$work/rows"
: >"$rows"
variant() {
    local name=$1; shift
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" "$cutout" "$@" >/dev/null 2>&1 || true # untimed: the cache is written here
    for ((i = 1; i <= runs; i++)); do
        local b0 b1 t0 t1 wall user sys faults
        b0=$(busy_ticks)
        t0=$(date +%s.%N)
        env "${envs[@]}" /usr/bin/time -o "$work/t" -f '%U %S %R' "$cutout" "$@" >/dev/null
        t1=$(date +%s.%N)
        b1=$(busy_ticks)
        read -r user sys faults <"$work/t"
        wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
        awk -v n="$name" -v w="$wall" -v u="$user" -v s="$sys" -v f="$faults" -v b="$((b1 - b0))" \
            -v hz="$hz" -v c="$ncpu" 'BEGIN { o = b / hz - u - s; if (o < 0) o = 0;
            printf "%s %.3f %.3f %d %.0f\n", n, w, u + s, f, 100 * o / ((w > 0 ? w : 0.01) * c) }' >>"$rows"
    done
}

args=(-q -t 2 --mask "$work/photo.jpg" -o "$work/mask.png")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
variant "cpu, weight cache warm" CUTOUT_WEIGHT_CACHE=1 -- -b cpu "${args[@]}"
variant "cpu, weight cache off" CUTOUT_WEIGHT_CACHE=0 -- -b cpu "${args[@]}"
variant "auto (OpenCL probed), cache warm" CUTOUT_WEIGHT_CACHE=1 -- "${args[@]}"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

table=$(awk '
function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
{ name = $1; for (k = 2; k <= NF - 4; k++) name = name " " $k
  if (!(name in n)) order[++m] = name
  i = ++n[name]; W[name, i] = $(NF - 3); C[name, i] = $(NF - 2); F[name, i] = $(NF - 1)
  if ($NF > O[name]) O[name] = $NF; if (!(name in lo) || $(NF - 3) < lo[name]) lo[name] = $(NF - 3) }
END { print "| variant | runs | wall s (median) | wall s (min) | CPU s (median) | minor faults (median) | others'\'' CPU % (max) |"
      print "|---|---|---|---|---|---|---|"
      for (r = 1; r <= m; r++) { v = order[r]; k = n[v]
          for (i = 1; i <= k; i++) { w[i] = W[v, i]; c[i] = C[v, i]; f[i] = F[v, i] }
          printf "| %s | %d | %.3f | %.3f | %.3f | %d | %d |\n", v, k, med(w, k), lo[v], med(c, k), med(f, k), O[v] } }' "$rows")

mkdir -p "$(dirname "$out")"
{
    echo "# Cold start of the CLI — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "\`$cutout -q [-b cpu] -t 2 --mask photo.jpg -o mask.png\`, whole process (\`/usr/bin/time\`),"
    echo "u2netp, photo 770x595 (tests/fixtures/rembg/anime-girl-1.jpg resized with PIL LANCZOS,"
    echo "JPEG q90); $runs timed runs per variant after one untimed run."
    echo
    echo "$table"
    echo
    echo "Machine: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1), nproc $ncpu;"
    echo "load average before $load_before, after $load_after; commit $(git describe --always --dirty 2>/dev/null || echo '?')."
    echo
    echo "Command: \`bench/cold_start.sh $build $runs\`"
} >"$out"
echo "$table"
echo "bench: wrote $out" >&2
