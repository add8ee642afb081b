#!/usr/bin/env node
// ort_bench.js: time ONNX Runtime (onnxruntime-node, CPU) on a cutout model, the way
// cutout-bench times cutout, and print one JSON object with cutout-bench's keys.
//
//   node bench/ort_bench.js MODEL.onnx [--threads N] [--size HxW] [--batch N]
//                           [--iterations N] [--warmup N] [--outputs all|first]
//                           [--input X.f32] [--output Y.f32]
//
// Timing (as cutout-bench): session creation is load_ms; the first run is always made
// and reported as first_ms; then --warmup untimed runs; then --iterations timed runs
// (median, min, p90).
// Each timed span is one `await session.run()`: input tensor ready -> outputs back.
// --outputs all (default) fetches every graph output, as rembg's session.run(None)
// does; --outputs first fetches output 0 only. --input / --output as in cutout-bench:
// raw native-endian float32, N x 3 x H x W in, output 0 (N x 1 x H x W) out, so the two
// runtimes' outputs can be compared on the same tensor.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

function usage(msg) {
  if (msg) process.stderr.write(`ort_bench: ${msg}\n`);
  process.stderr.write('usage: node ort_bench.js MODEL.onnx [--threads N] [--size HxW] [--batch N]\n' +
                       '                         [--iterations N] [--warmup N] [--outputs all|first]\n' +
                       '                         [--input X.f32] [--output Y.f32]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { threads: 2, size: null, batch: 1, iterations: 10, warmup: 2, outputs: 'all', model: null,
              input: null, output: null };
  const int = (name, v, min) => {
    if (!/^\d+$/.test(v || '') || Number(v) < min) usage(`${name} wants an integer >= ${min}, got '${v}'`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    switch (a) {
      case '--threads': o.threads = int(a, next(), 1); break;
      case '--batch': o.batch = int(a, next(), 1); break;
      case '--iterations': o.iterations = int(a, next(), 1); break;
      case '--warmup': o.warmup = int(a, next(), 0); break;
      case '--size': {
        const m = /^(\d+)x(\d+)$/.exec(next());
        if (!m || m[1] === '0' || m[2] === '0') usage('--size wants HxW, e.g. 320x320');
        o.size = [Number(m[1]), Number(m[2])];
        break;
      }
      case '--outputs': o.outputs = next(); if (!['all', 'first'].includes(o.outputs)) usage('--outputs all|first'); break;
      case '--input': o.input = next(); break;
      case '--output': o.output = next(); break;
      case '-h': case '--help': usage();
      default:
        if (a.startsWith('-') || o.model) usage(`unexpected argument '${a}'`);
        o.model = a;
    }
  }
  if (!o.model) usage('no model given');
  return o;
}

// The input pattern: cutout-bench's (bench/cutout_bench.c), bit for bit, so both
// runtimes see the same tensor: a 32-bit LCG from seed 12345, 16 bits of each state
// mapped to [-2.1, 2.4] (the range of normalised pixels). Math.fround at every step
// reproduces C's float arithmetic.
function syntheticInput(n) {
  const data = new Float32Array(n);
  const f = Math.fround, lo = f(2.1);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = f(f(f(((s >>> 8) & 0xffff) / 65535) * 4.5) - lo);
  }
  return data;
}

// The same rank as cutout-bench: index round(q * (n - 1)) of the sorted times.
function quantile(sorted, q) {
  return sorted[Math.round(q * (sorted.length - 1))];
}

const ms = (t0, t1) => Number(t1 - t0) / 1e6;
const round = (x, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    process.stderr.write('ort_bench: onnxruntime-node is not installed; run\n' +
                         '  ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix bench\n');
    process.exit(1);
  }
  if (!fs.existsSync(o.model)) { process.stderr.write(`ort_bench: no such model: ${o.model}\n`); process.exit(1); }

  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(o.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: o.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const t1 = process.hrtime.bigint();

  const inputName = session.inputNames[0];
  // Default size: the model's own fixed input shape when it declares one.
  let [h, w] = o.size || [320, 320];
  const meta = session.inputMetadata && session.inputMetadata[0];
  if (!o.size && meta && Array.isArray(meta.shape) && typeof meta.shape[2] === 'number' && typeof meta.shape[3] === 'number') {
    [h, w] = [meta.shape[2], meta.shape[3]];
  }
  const n = o.batch * 3 * h * w;
  let data;
  if (o.input) {
    const buf = fs.readFileSync(o.input);
    if (buf.length !== n * 4) {
      process.stderr.write(`ort_bench: ${o.input} is ${buf.length} bytes; ${o.batch}x3x${h}x${w} float32 is ${n * 4}\n`);
      process.exit(1);
    }
    data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  } else {
    data = syntheticInput(n);
  }
  const input = new ort.Tensor('float32', data, [o.batch, 3, h, w]);
  const feeds = { [inputName]: input };
  const fetches = o.outputs === 'first' ? [session.outputNames[0]] : undefined;
  const run = () => (fetches ? session.run(feeds, fetches) : session.run(feeds));

  const tf0 = process.hrtime.bigint();
  try {
    await run();
  } catch (e) {
    process.stderr.write(`ort_bench: ONNX Runtime rejected a ${o.batch}x3x${h}x${w} input: ${e.message}\n`);
    process.exit(1);
  }
  const tf1 = process.hrtime.bigint();
  for (let i = 0; i < o.warmup; i++) await run();

  const times = [];
  let last;
  for (let i = 0; i < o.iterations; i++) {
    const a = process.hrtime.bigint();
    last = await run();
    times.push(ms(a, process.hrtime.bigint()));
  }
  if (o.output) {
    const y = last[session.outputNames[0]];
    fs.writeFileSync(o.output, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
  }
  const sorted = times.slice().sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]
                                   : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  // maxRSS is in kilobytes (getrusage's ru_maxrss on Linux).
  const peakRssMb = process.resourceUsage().maxRSS / 1024;

  const result = {
    model: path.basename(o.model, '.onnx'),
    backend: 'onnxruntime',
    device: `cpu: ${os.cpus()[0] ? os.cpus()[0].model.trim() : 'unknown'} (onnxruntime-node ${require('onnxruntime-node/package.json').version})`,
    threads: o.threads,
    batch: o.batch,
    height: h,
    width: w,
    iterations: o.iterations,
    load_ms: round(ms(t0, t1)),
    first_ms: round(ms(tf0, tf1)),
    median_ms: round(median),
    min_ms: round(sorted[0]),
    p90_ms: round(quantile(sorted, 0.9)),
    images_per_s: round((1000 * o.batch) / median),
    gmac: null, // ONNX Runtime does not report it; cutout-bench counts it from the graph
    peak_rss_mb: round(peakRssMb, 1),
    // cutout-bench's rate keys (bench/README.md, "Rates"): they need the MAC count too
    gmac_per_image: null,
    gflops: null,
    peak_gflops: null,
    peak_fraction: null,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => { process.stderr.write(`ort_bench: ${e.stack || e}\n`); process.exit(1); });
