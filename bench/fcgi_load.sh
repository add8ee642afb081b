#!/usr/bin/env bash
# bench/fcgi_load.sh [BIN_DIR]: load test of cutout-fcgi behind nginx, compared
# with the CLI on the same image. BIN_DIR holds cutout and cutout-fcgi (default
# build). Only 127.0.0.1; every run is bounded (DURATION s per wrk run).
#
# Image: skimage's astronaut (512x512) upscaled to 1000x1000 with PIL LANCZOS,
# JPEG q90 (1.0 MP). POST /remove with the raw JPEG body -> RGBA PNG cutout.
# For each configuration of CONFIGS ("workers:threads:cpu_threads:batch"; the
# last default one, 2:4:2:8, is the default configuration of fcgi/README.md),
# cutout-fcgi (u2netp, cpu backend) + nginx (own prefix directory, free port,
# upstream keepalive, fastcgi_keep_conn) are started, warmed up, measured with
#   wrk -t1 -cC -dDURATION --timeout 60s --latency -s bench/fcgi_post.lua
# for each C of CONCURRENCY, and stopped by PID. The CLI runs on CLI_COPIES
# copies of the same JPEG in one folder: `cutout -b cpu -t 2 DIR -o OUT`,
# images/s = copies / wall time (model load included), CLI_ROUNDS times.
# Every timed run holds /tmp/bench.lock (flock) so it never overlaps another
# benchmark, and reports the share of the machine's CPU that other processes
# used meanwhile (/proc/stat busy time minus ours; above ~5%: contended).
# Writes a markdown report to OUT (default bench/results/fcgi-<date>.md).
# WORK: scratch directory (default build-fcgibench/load, emptied first).
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
bin=$(cd "${1:-build}" && pwd)
DURATION=${DURATION:-30}
CONCURRENCY=${CONCURRENCY:-"1 4 16"}
CONFIGS=${CONFIGS:-"1:4:2:4 2:4:1:4 1:4:2:1 2:4:2:8"}
CLI_COPIES=${CLI_COPIES:-30}
CLI_ROUNDS=${CLI_ROUNDS:-2}
OUT=${OUT:-bench/results/fcgi-$(date -u +%Y-%m-%d).md}
LOCK=/tmp/bench.lock
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
work=${WORK:-"$root/build-fcgibench/load"}
rm -rf "$work"
mkdir -p "$work/tmp" "$work/cli-in" "$(dirname "$OUT")"
img="$work/astronaut-1000.jpg"
/usr/bin/python3 - "$img" <<'EOF'
import sys
from PIL import Image
from skimage import data
Image.fromarray(data.astronaut()).resize((1000, 1000), Image.LANCZOS).save(sys.argv[1], quality=90)
EOF
for i in $(seq -w 1 "$CLI_COPIES"); do cp "$img" "$work/cli-in/img$i.jpg"; done

clk=$(getconf CLK_TCK)
ncpu=$(nproc)
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# utime + stime of the given live processes, in ticks.
pid_ticks() {
    local t=0 p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] && t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')))
    done
    echo "$t"
}
now() { date +%s.%N; }
# Share (%) of all CPUs used by others: (busy - ours) / (wall * ncpu).
others_pct() { # busy_ticks_delta our_ticks_delta wall_s
    awk -v b="$1" -v o="$2" -v w="$3" -v c="$clk" -v n="$ncpu" \
        'BEGIN { x = (b - o) / c / (w * n) * 100; if (x < 0) x = 0; printf "%.1f", x }'
}
to_ms() { # wrk latency like 812.34ms, 1.23s, 950.00us
    awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.0f", v / 1000; else if (v ~ /ms$/) printf "%.0f", v + 0;
                           else if (v ~ /m$/) printf "%.0f", v * 60000; else printf "%.0f", v * 1000 }'
}
metric() { # port name: a counter from /metrics (summed over labels)
    curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $2 } END { print s + 0 }'
}

cmds="$work/commands.txt"
: > "$cmds"
rows="$work/rows.md"
: > "$rows"
clirows="$work/cli.md"
: > "$clirows"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- CLI
cli_best=${CLI_BEST:-0}  # CLI_BEST=N: skip the CLI rounds, use N images/s
[ "$cli_best" != 0 ] && CLI_ROUNDS=0
for r in $(seq 1 "$CLI_ROUNDS"); do
    rm -rf "$work/cli-out"
    cmd="$bin/cutout -b cpu -t 2 $work/cli-in -o $work/cli-out"
    echo "flock $LOCK $cmd" >> "$cmds"
    exec 9>>"$LOCK"
    flock 9
    b0=$(busy_ticks); t0=$(now)
    /usr/bin/time -f '%U %S' -o "$work/cli.time" $cmd > /dev/null
    t1=$(now); b1=$(busy_ticks)
    flock -u 9
    exec 9>&-
    n=$(ls "$work/cli-out" | wc -l)
    [ "$n" = "$CLI_COPIES" ] || { echo "CLI wrote $n of $CLI_COPIES outputs" >&2; exit 1; }
    own=$(awk -v c="$clk" '{ printf "%d", ($1 + $2) * c }' "$work/cli.time")
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    ips=$(awk -v n="$CLI_COPIES" -v w="$wall" 'BEGIN { printf "%.2f", n / w }')
    oth=$(others_pct $((b1 - b0)) "$own" "$wall")
    echo "| $r | $CLI_COPIES | $wall | $ips | $oth |" >> "$clirows"
    echo "CLI round $r: $ips images/s ($wall s, others ${oth}%)" >&2
    cli_best=$(awk -v a="$cli_best" -v b="$ips" 'BEGIN { print (b > a) ? b : a }')
done

# ---------------------------------------------------------------- server
fcgi_pid=""; nginx_pid=""
stop_servers() {
    local p
    for p in $nginx_pid $fcgi_pid; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $nginx_pid $fcgi_pid; do
        for _ in $(seq 1 400); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    fcgi_pid=""; nginx_pid=""
}
trap stop_servers EXIT
trap 'exit 130' INT TERM

user=""
[ "$(id -u)" = 0 ] && user="user root;"
for cfg in $CONFIGS; do
    IFS=: read -r workers threads cput batch <<< "$cfg"
    pre="$work/$workers-$threads-$cput-$batch"
    mkdir -p "$pre/tmp"
    sock="$pre/cutout.sock"
    port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    keep=$((workers * threads)); [ "$keep" -gt 8 ] && keep=8
    cat > "$pre/cutout.yaml" <<YAML
# written by bench/fcgi_load.sh
listen: unix:$sock
workers: $workers
threads: $threads
backend: cpu
cpu_threads: $cput
models: {default: u2netp, paths: {u2netp: $root/models/u2netp.onnx}}
batch: {max_size: $batch, max_delay_ms: 5}
limits: {queue_depth: 64, request_timeout_s: 60}
log: {level: warn, format: text, file: $pre/cutout-fcgi.log}
YAML
    cat > "$pre/nginx.conf" <<CONF
worker_processes 1;
$user
pid $pre/nginx.pid;
error_log $pre/nginx-error.log warn;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path $pre/tmp/body;
    fastcgi_temp_path $pre/tmp/fastcgi;
    proxy_temp_path $pre/tmp/proxy;
    uwsgi_temp_path $pre/tmp/uwsgi;
    scgi_temp_path $pre/tmp/scgi;
    client_max_body_size 21m;
    client_body_buffer_size 1m;
    upstream cutout { server unix:$sock; keepalive $keep; }
    server {
        listen 127.0.0.1:$port;
        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass cutout;
            fastcgi_keep_conn on;
            fastcgi_read_timeout 120s;
            fastcgi_next_upstream error timeout non_idempotent;
        }
    }
}
CONF
    "$bin/cutout-fcgi" --config "$pre/cutout.yaml" > "$pre/cutout-fcgi.out" 2>&1 &
    fcgi_pid=$!
    nginx -p "$pre" -c "$pre/nginx.conf" -g 'daemon off;' > "$pre/nginx.out" 2>&1 &
    nginx_pid=$!
    ready=0
    for _ in $(seq 1 300); do
        n=$(curl -s "http://127.0.0.1:$port/status" | grep -o '"state":"ready"' | wc -l) || n=0
        [ "$n" = "$workers" ] && { ready=1; break; }
        sleep 0.2
    done
    [ "$ready" = 1 ] || { echo "config $cfg: servers not ready in 60 s" >&2; exit 1; }
    url="http://127.0.0.1:$port/remove"
    # Sanity: a PNG of the same size comes back.
    curl -s --data-binary @"$img" "$url" -o "$pre/check.png"
    /usr/bin/python3 -c "
from PIL import Image; import sys
im = Image.open(sys.argv[1]); assert im.size == (1000, 1000) and im.mode == 'RGBA', (im.size, im.mode)" "$pre/check.png"
    # Warm-up (first batches plan memory): 2 x workers x batch requests, c=4.
    exec 9>>"$LOCK"; flock 9
    CUTOUT_BENCH_IMAGE="$img" wrk -t1 -c4 -d5s --timeout 60s -s bench/fcgi_post.lua "$url" > /dev/null
    flock -u 9; exec 9>&-
    for c in $CONCURRENCY; do
        cmd="wrk -t1 -c$c -d${DURATION}s --timeout 60s --latency -s bench/fcgi_post.lua $url"
        echo "CUTOUT_BENCH_IMAGE=$img flock $LOCK $cmd   # config $pre/cutout.yaml" >> "$cmds"
        exec 9>>"$LOCK"
        flock 9
        srv="$fcgi_pid $(pgrep -P "$fcgi_pid" | tr '\n' ' ') $nginx_pid $(pgrep -P "$nginx_pid" | tr '\n' ' ')"
        nb0=$(metric "$port" cutout_batches_total); ni0=$(metric "$port" cutout_batch_images_total)
        b0=$(busy_ticks); s0=$(pid_ticks $srv); t0=$(now)
        CUTOUT_BENCH_IMAGE="$img" /usr/bin/time -f '%U %S' -o "$pre/wrk.time" $cmd > "$pre/wrk-c$c.txt"
        t1=$(now); s1=$(pid_ticks $srv); b1=$(busy_ticks)
        nb1=$(metric "$port" cutout_batches_total); ni1=$(metric "$port" cutout_batch_images_total)
        flock -u 9
        exec 9>&-
        wt=$(awk -v c="$clk" '{ printf "%d", ($1 + $2) * c }' "$pre/wrk.time")
        wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
        oth=$(others_pct $((b1 - b0)) $((s1 - s0 + wt)) "$wall")
        f="$pre/wrk-c$c.txt"
        rps=$(awk '/^Requests\/sec:/ { print $2 }' "$f")
        nreq=$(awk '/requests in/ { print $1 }' "$f")
        p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$f")")
        p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$f")")
        bad=$(awk '/Non-2xx/ { print $NF } /Socket errors/ { print $0 }' "$f" | tr '\n' ' ')
        mb=$(awk -v b=$((nb1 - nb0)) -v i=$((ni1 - ni0)) 'BEGIN { if (b > 0) printf "%.2f", i / b; else print "-" }')
        ratio=$(awk -v s="$rps" -v c="$cli_best" 'BEGIN { printf "%.2f", s / c }')
        echo "| $workers | $threads | $cput | $batch | $c | $nreq | $rps | $p50 | $p99 | $mb | $ratio | $oth | ${bad:-none} |" >> "$rows"
        echo "config $cfg c=$c: $rps req/s p50 ${p50} ms p99 ${p99} ms batch $mb ratio $ratio others ${oth}% ${bad}" >&2
    done
    stop_servers
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

{
    echo "# cutout-fcgi load benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Produced by \`bench/fcgi_load.sh ${1:-build}\` (DURATION=$DURATION, CONCURRENCY=\"$CONCURRENCY\", CONFIGS=\"$CONFIGS\", CLI_COPIES=$CLI_COPIES, CLI_ROUNDS=$CLI_ROUNDS)."
    echo
    echo "Image: skimage astronaut 512x512 upscaled to 1000x1000 (PIL LANCZOS), JPEG q90, $(stat -c %s "$img") bytes."
    echo "Request: \`POST /remove\` with the raw JPEG body through nginx (upstream keepalive, fastcgi_keep_conn) -> RGBA PNG 1000x1000 (output.png_compression default 3). Model u2netp, cpu backend, batch.max_delay_ms 5."
    echo
    echo "## CLI (\`cutout -b cpu -t 2 DIR -o OUT\`, $CLI_COPIES copies; model load included)"
    echo
    echo "| round | images | wall s | images/s | others' CPU % |"
    echo "|---|---|---|---|---|"
    cat "$clirows"
    echo
    echo "Best CLI images/s (the ratio's denominator): $cli_best"
    echo
    echo "## Server (wrk -t1, ${DURATION} s per row, --timeout 60s)"
    echo
    echo "| workers | threads | cpu_threads | batch.max_size | concurrency | requests | req/s | p50 ms | p99 ms | mean batch | server/CLI | others' CPU % | errors |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    cat "$rows"
    echo
    echo "## Machine"
    echo
    echo "- $(lscpu | sed -n 's/^Model name: *//p'), $ncpu CPUs, $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r)"
    echo "- $(nginx -v 2>&1), $(wrk -v 2>&1 | head -1 | cut -c1-60)"
    echo "- binaries: $(sha256sum "$bin/cutout" "$bin/cutout-fcgi" | awk '{ printf "%s %s; ", $2, substr($1, 1, 12) }')git $(git rev-parse --short HEAD 2>/dev/null || echo ?)"
    echo "- load average before: $load_before, after: $load_after"
    echo
    echo "## Commands"
    echo
    echo '```'
    cat "$cmds"
    echo '```'
    echo
    echo "## Configuration (first of CONFIGS; the others differ in workers/threads/cpu_threads/batch)"
    echo
    echo '```yaml'
    first=$(echo "$CONFIGS" | awk '{ print $1 }' | tr : -)
    cat "$work/$first/cutout.yaml"
    echo '```'
} > "$OUT"
echo "wrote $OUT" >&2
