"""The reference suite: cutout's whole forward pass (BUILD/tests/net_run)
against an independent PyTorch implementation (u2net_arch.py).

usage: compare.py BUILD_DIR [--reference-only] [--only SUBSTRING] [--backend cpu|opencl]

For every case: write the input tensor, run
    net_run MODEL.onnx IN.f32 N H W OUT.f32 --threads 2 [--side-outputs]
and compare every output it wrote with the PyTorch model run directly (not
through ONNX) at the same size in float64, so the error printed is cutout's
own. One line per case, "ok CASE max_abs_err=..." or "FAIL CASE ...", then
"N passed, N failed". Each line also shows torch_fp32_err: how far
PyTorch's own fp32 pass is from float64 on the same case, the yardstick for
what rounding alone does.

--reference-only runs only the PyTorch side (exports, reference passes,
saturation checks), for working without net_run.

--backend opencl runs the OpenCL backend (PoCL here, a GPU where there is
one) on the cases in OPENCL_CASES: random-weight u2netp, u2net and ISNet
and the real u2netp, batch 1 and 3, odd sizes. Each is checked twice:
against the PyTorch reference with the same tolerance as the CPU backend,
and against the CPU backend's own output (net_run --backend cpu on the same
input), every output within TOL_OPENCL_VS_CPU.

Tolerances (max abs error of every sigmoid output against float64):
- TOL = 1e-4 for the random-weight models and the trained ISNet. A correct
  fp32 pass differs from exact arithmetic by rounding only: each conv is a
  dot product of up to 9216 terms (1024 channels × 3×3), relative error
  around sqrt(terms) × 2^-24 ≈ 1e-5 of the terms' magnitude, compounded over
  ~20 convs in series; the sigmoid (slope ≤ 1/4) then shrinks it. Measured:
  PyTorch's own fp32 pass is within 1.2e-5 of float64 on every case here
  except ISNet at 1024² (3.4e-5, in d5/d6, which come from the 512-channel
  bottom stages), so 1e-4 leaves 3-10× room for another summation order,
  while a wrong weight, tap, padding, pooling window or interpolation weight
  lands far above it: the negative control checks that a bias shift of 1%
  of the activation std in one deep conv shows by more than 10×.
- TOL_U2NETP_TRAINED = 5e-4 for the trained u2netp (models/u2netp.onnx).
  With BatchNorm folded in, it is worse conditioned: in its last decoder
  stage activations of ~230 cancel down to ~12, so relative rounding error
  grows ~50×, and PyTorch's own fp32 pass is up to 1.2e-4 from float64 on
  the skimage photos (d2 worst). 5e-4 allows ~4× that for another fp32
  summation order; a real error in the pass or in weight loading moves the
  mask by far more.
- TOL_OPENCL_VS_CPU = 1e-4 between the two backends on output 0 (the
  mask) and on every output of the random-weight models. Both are fp32
  passes over the same weights that differ only in summation order (direct
  or GEMM on the device, Winograd or GEMM on the CPU), so they sit within
  the rounding band each has against float64. The trained u2netp's side
  outputs are held to its TOL_U2NETP_TRAINED instead: its d2 is the badly
  conditioned one above (PyTorch fp32 itself 1.2e-4 from float64), and two
  fp32 orders measured 1.27e-4 apart there while output 0 stayed at 5e-5.
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np
import torch

import export_random
import load_onnx_weights
import rembg_input
import u2net_arch

TOL = 1e-4
TOL_U2NETP_TRAINED = 5e-4
TOL_OPENCL_VS_CPU = 1e-4
# The cases --backend opencl runs: every architecture, batch 1 and 3, odd
# sizes, the real weights; small enough for PoCL on 2 cores in make test.
OPENCL_CASES = [
    "u2netp_random_97x143_b1_sides",
    "u2netp_random_321x203_b3",
    "u2netp_random_8x8_b1_sides",
    "u2netp_random_13x57_b2_sides",
    "u2net_random_97x143_b3",
    "isnet_random_321x203_b1",
    "u2netp_real_photos_b3_sides",
    "u2netp_real_coffee_b1",
]
NET_RUN_THREADS = 2
NET_RUN_TIMEOUT_S = 300
# A random-weight reference whose output 0 is flat or saturated would let a
# broken pass through: require real spread.
MIN_OUT0_STD = 0.05
MAX_SATURATED_FRACTION = 0.5

TIMES = {"models": 0.0, "torch": 0.0, "net_run": 0.0}
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")
REAL_U2NETP = os.path.join(HERE, "..", "..", "models", "u2netp.onnx")
REAL_PHOTOS = ["astronaut", "coffee", "chelsea", "rocket"]


class Case:
    def __init__(self, name, arch, weights, n, h, w, sides, tol, inputs, expect_differ=None):
        self.name = name
        self.arch = arch
        # ("random", seed, calib) | ("perturbed", seed, calib) | ("real",): models/u2netp.onnx
        # | ("file", path): another trained file
        self.weights = weights
        self.n, self.h, self.w = n, h, w
        self.sides = sides          # ask net_run for the side outputs too
        self.tol = tol
        self.inputs = inputs        # () -> n×3×h×w float32
        self.expect_differ = expect_differ  # negative control: the weights it must not match


def synth(n, h, w, seed, first_kind=0):
    return lambda: rembg_input.synthetic_batch(n, h, w, seed, first_kind)


def photos(names):
    return lambda: np.stack([rembg_input.photo_tensor(rembg_input.skimage_photo(p), 320)
                             for p in names])


def find_model_file(name):
    """NAME.onnx in $CUTOUT_MODEL_DIR or models/cache (tools/fetch-model's
    default directory), or None."""
    dirs = [os.environ.get("CUTOUT_MODEL_DIR"), os.path.join(HERE, "..", "..", "models", "cache")]
    for d in dirs:
        if d and os.path.isfile(os.path.join(d, name + ".onnx")):
            return os.path.join(d, name + ".onnx")
    return None


ISNET_FP16 = "isnet-general-use-fp16"
# rembg's isnet-general-use normalisation (models/registry.tsv).
ISNET_MEAN, ISNET_STD = (0.5, 0.5, 0.5), (1.0, 1.0, 1.0)


def real_isnet_cases():
    """The trained ISNet (fp16 weights, widened to fp32 by both sides), when
    it has been fetched: tools/fetch-model isnet-general-use-fp16. PyTorch's
    own fp32 pass is within 3e-6 of float64 on it (astronaut), so the
    default tolerance applies."""
    path = find_model_file(ISNET_FP16)
    if path is None:
        return [Skip("isnet_real_fp16_astronaut_1024x1024_b1_sides",
                     "no %s.onnx in $CUTOUT_MODEL_DIR or models/cache "
                     "(tools/fetch-model %s)" % (ISNET_FP16, ISNET_FP16))]
    inputs = lambda: rembg_input.photo_tensor(rembg_input.skimage_photo("astronaut"), 1024,
                                              ISNET_MEAN, ISNET_STD)[None]
    return [Case("isnet_real_fp16_astronaut_1024x1024_b1_sides", "isnet", ("file", path),
                 1, 1024, 1024, True, TOL, inputs)]


class Skip:
    def __init__(self, name, why):
        self.name, self.why = name, why


def cases():
    R = lambda seed, cal=None: ("random", seed, cal)
    real = ("real",)
    return [
        Case("u2netp_random_320x320_b1_sides", "u2netp", R(1), 1, 320, 320, True, TOL,
             synth(1, 320, 320, 101, first_kind=1)),
        Case("u2netp_random_321x203_b3", "u2netp", R(1), 3, 321, 203, False, TOL,
             synth(3, 321, 203, 102)),
        Case("u2netp_random_97x143_b1_sides", "u2netp", R(1), 1, 97, 143, True, TOL,
             synth(1, 97, 143, 103)),
        # Tiny inputs: the deepest stages are 1×1 and every image position
        # sees the padding. Activation statistics differ from the 160²
        # calibration, and with seed 1 output 0 comes out mostly saturated
        # at 8×8 (the spread check refuses it), so these use seed 3, whose
        # outputs stay spread at these sizes. (Calibrating at 8×8 instead is
        # worse: it only sees the centre tap of the dilated convs and blows
        # the other taps up by orders of magnitude.)
        Case("u2netp_random_8x8_b1_sides", "u2netp", R(3), 1, 8, 8, True, TOL,
             synth(1, 8, 8, 104, first_kind=1)),
        # Odd and lopsided: 13 -> 7 -> 4 -> 2 -> 1 -> 1 and 57 -> 29 -> 15 -> 8
        # -> 4 -> 2 along the other axis, batch 2.
        Case("u2netp_random_13x57_b2_sides", "u2netp", R(3), 2, 13, 57, True, TOL,
             synth(2, 13, 57, 106)),
        Case("u2net_random_320x320_b1_sides", "u2net", R(1), 1, 320, 320, True, TOL,
             synth(1, 320, 320, 201, first_kind=1)),
        Case("u2net_random_97x143_b3", "u2net", R(1), 3, 97, 143, False, TOL,
             synth(3, 97, 143, 202)),
        # u2net_cloth_seg's 4-channel head (side convs and fusion conv with 4
        # outputs per side), batch 2 so the n×C layout is checked too.
        Case("u2netp_cloth_random_97x143_b2_sides", "u2netp_cloth", R(1), 2, 97, 143, True, TOL,
             synth(2, 97, 143, 5)),
        Case("isnet_random_1024x1024_b1_sides", "isnet", R(1), 1, 1024, 1024, True, TOL,
             synth(1, 1024, 1024, 301, first_kind=1)),
        Case("isnet_random_321x203_b1", "isnet", R(1), 1, 321, 203, False, TOL,
             synth(1, 321, 203, 302)),
        # The shipped model on photos, preprocessed as rembg does; batched
        # and alone (output 0 only: the production path).
        Case("u2netp_real_photos_b3_sides", "u2netp", real, 3, 320, 320, True,
             TOL_U2NETP_TRAINED, photos(REAL_PHOTOS[:3])),
        Case("u2netp_real_rocket_b1_sides", "u2netp", real, 1, 320, 320, True,
             TOL_U2NETP_TRAINED, photos(["rocket"])),
    ] + [
        Case("u2netp_real_%s_b1" % p, "u2netp", real, 1, 320, 320, False,
             TOL_U2NETP_TRAINED, photos([p]))
        for p in REAL_PHOTOS[:3]
    ] + real_isnet_cases() + [
        # Negative control: one conv's bias changed (see perturb()).
        # net_run must match the changed model's reference and must differ
        # from the original's by more than 10× the tolerance.
        Case("negative_control_u2netp_perturbed_97x143", "u2netp", ("perturbed", 1, None),
             1, 97, 143, True, TOL, synth(1, 97, 143, 105, first_kind=1),
             expect_differ=R(1)),
    ]


# ---------------------------------------------------------------- models

_models = {}
PERTURB_BIAS = 0.01


def perturb(model):
    """Shift the bias of the first dilation-8 conv (stage 5's RSU-4F bottom,
    a 7×9 map at 97×143) by 0.01 in every channel: 1% of that layer's
    activation std (1 by calibration), deep in the network."""
    conv = next(m for m in u2net_arch.conv_modules_in_forward_order(model)
                if m.dilation[0] == 8)
    with torch.no_grad():
        conv.bias.add_(PERTURB_BIAS)
    return model


def model_files(arch, weights):
    """(onnx path for net_run, torch model, cache key)."""
    key = (arch,) + tuple(weights)
    if key in _models:
        return _models[key]
    t = time.time()
    models_dir = os.path.join(OUT, "models")
    if weights[0] in ("real", "file"):
        path = REAL_U2NETP if weights[0] == "real" else weights[1]
        m = u2net_arch.build(arch).eval()
        load_onnx_weights.load_into(m, path)
    else:
        _, seed, cal = weights
        path, pt = export_random.ensure_exported(arch, seed, models_dir, cal)
        m = export_random.load_state(arch, pt)
        if weights[0] == "perturbed":
            perturb(m)
            path = path.replace(".onnx", "-perturbed-bias%g.onnx" % PERTURB_BIAS)
            if not os.path.exists(path):
                export_random.export_onnx(m, arch, path)
    _models[key] = (path, m, key)
    TIMES["models"] += time.time() - t
    return _models[key]


# ---------------------------------------------------------------- running

_ref_cache = {}


def reference(model, key, x, dtype=torch.float64):
    """Outputs in net_run's order: output 0, then the sides (U²-Net d1..d6,
    ISNet d2..d6), each n×h×w numpy. Computed per image and cached, so the
    photo cases that reuse an image (batched and single) pay for it once;
    images in a batch are independent, so this is the same answer."""
    todo = [i for i in range(len(x)) if (key, dtype, x[i].tobytes()) not in _ref_cache]
    if todo:
        m = model.to(dtype)
        with torch.no_grad():
            outs = m(torch.from_numpy(x[todo]).to(dtype))
        for j, i in enumerate(todo):
            _ref_cache[(key, dtype, x[i].tobytes())] = [o[j].numpy() for o in outs]
    per_image = [_ref_cache[(key, dtype, x[i].tobytes())] for i in range(len(x))]
    # A C-channel output is laid out n×C×h×w, as net_run writes it: image i's
    # channel c is plane i*C+c.
    return [np.concatenate([p[k] for p in per_image]) for k in range(len(per_image[0]))]


def output_labels(arch):
    return u2net_arch.output_names(arch)  # ISNet d1..d6, U²-Net d0..d6


def run_net_run(build, case, model_path, x, base, backend="cpu"):
    in_path, out_path = base + ".in.f32", base + "." + backend + ".out.f32"
    x.astype("=f4").tofile(in_path)
    if os.path.exists(out_path):
        os.remove(out_path)
    cmd = [os.path.join(build, "tests", "net_run"), model_path, in_path, str(case.n),
           str(case.h), str(case.w), out_path, "--threads", str(NET_RUN_THREADS),
           "--backend", backend]
    if case.sides:
        cmd.append("--side-outputs")
    t = time.time()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=NET_RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, "net_run --backend %s timed out after %d s" % (
            backend, NET_RUN_TIMEOUT_S), time.time() - t
    dt = time.time() - t
    if p.returncode != 0:
        msg = p.stderr.decode(errors="replace").strip().replace("\n", " | ")
        return None, "net_run --backend %s exit %d: %s" % (backend, p.returncode, msg[-400:]), dt
    if not os.path.exists(out_path):
        return None, "net_run exit 0 but wrote no %s" % out_path, dt
    return np.fromfile(out_path, dtype="=f4"), None, dt


def read_outputs(case, got, n_outputs, labels):
    """net_run's floats as outputs × n × h × w, or an error line."""
    ch = u2net_arch.OUT_CH.get(case.arch, 1)
    plane = case.n * ch * case.h * case.w
    if got.size != plane * n_outputs:
        return None, "wrote %d floats, expected %d (%d outputs of %dx%dx%dx%d)" % (
            got.size, plane * n_outputs, n_outputs, case.n, ch, case.h, case.w)
    got = got.reshape(n_outputs, case.n * ch, case.h, case.w)
    if not np.isfinite(got).all():
        k = int(np.argwhere(~np.isfinite(got))[0][0])
        return None, "%s contains NaN/Inf" % labels[k]
    return got, None


def describe_error(label, got, ref, tol):
    """Where an output is wrong: worst pixel, and the box of pixels over tol."""
    err = np.abs(got.astype(np.float64) - ref)
    i = np.unravel_index(np.argmax(err), err.shape)
    s = "%s max_abs_err=%.3g at n=%d y=%d x=%d (ref %.6f got %.6f)" % (
        label, err[i], i[0], i[1], i[2], ref[i], got[i])
    bad = np.argwhere(err > tol)
    if len(bad):
        lo, hi = bad.min(0), bad.max(0)
        s += ", %d px over tol in n %d..%d y %d..%d x %d..%d of %dx%d" % (
            len(bad), lo[0], hi[0], lo[1], hi[1], lo[2], hi[2], ref.shape[1], ref.shape[2])
    return s


def max_errs(got_list, refs):
    return [float(np.abs(g.astype(np.float64) - r).max()) for g, r in zip(got_list, refs)]


def spread_problem(out0):
    sat = float(((out0 < 1e-3) | (out0 > 1 - 1e-3)).mean())
    if out0.std() < MIN_OUT0_STD or sat > MAX_SATURATED_FRACTION:
        return "reference output 0 is degenerate (std %.3g, %.0f%% within 1e-3 of 0 or 1): " \
               "the comparison would be meaningless" % (out0.std(), 100 * sat)
    return None


def run_case(case, build, reference_only, backend="cpu"):
    """(ok, line)."""
    path, model, key = model_files(case.arch, case.weights)
    x = case.inputs()
    assert x.shape == (case.n, 3, case.h, case.w) and x.dtype == np.float32
    t = time.time()
    refs = reference(model, key, x)
    # Context for the tolerance: how far PyTorch's own fp32 pass is from
    # float64 on this very case.
    o32 = reference(model, key, x, torch.float32)
    t_ref = time.time() - t
    TIMES["torch"] += t_ref
    labels = output_labels(case.arch)
    if not case.sides:
        refs, labels, o32 = refs[:1], labels[:1], o32[:1]
    torch_fp32 = max(max_errs(o32, refs))

    if case.weights[0] in ("random", "perturbed"):
        problem = spread_problem(refs[0])
        if problem:
            return False, "FAIL %s %s" % (case.name, problem)

    if reference_only:
        return True, "ok %s reference only: out0 std %.3f, torch_fp32_err=%.2g, torch %.1fs" % (
            case.name, refs[0].std(), torch_fp32, t_ref)

    base = os.path.join(OUT, "cases", case.name)
    got, err, t_run = run_net_run(build, case, path, x, base, backend)
    TIMES["net_run"] += t_run
    if err:
        return False, "FAIL %s %s" % (case.name, err)
    got, err = read_outputs(case, got, len(refs), labels)
    if err:
        return False, "FAIL %s net_run --backend %s %s" % (case.name, backend, err)
    errs = max_errs(got, refs)
    worst = max(errs)
    detail = " ".join("%s=%.2g" % (l, e) for l, e in zip(labels, errs))
    timing = "net_run %.1fs torch %.1fs" % (t_run, t_ref)
    ctx = "torch_fp32_err=%.2g" % torch_fp32

    if worst > case.tol:
        bad = [describe_error(l, g, r, case.tol)
               for l, g, r, e in zip(labels, got, refs, errs) if e > case.tol]
        return False, "FAIL %s max_abs_err=%.3g > tol %.0e: %s; all: %s %s" % (
            case.name, worst, case.tol, "; ".join(bad), detail, ctx)

    if case.expect_differ is not None:
        _, other, other_key = model_files(case.arch, case.expect_differ)
        refs_other = reference(other, other_key, x)[:len(refs)]
        d = max(max_errs(got, refs_other))
        if d <= 10 * case.tol:
            return False, ("FAIL %s net_run's output is within %.3g of the unperturbed model's "
                           "reference: the suite cannot see a changed bias" % (case.name, d))
        detail += " differs_from_unperturbed=%.3g" % d

    if backend != "cpu":
        # The same input through the CPU backend: the two must agree.
        cpu, err, t_cpu = run_net_run(build, case, path, x, base, "cpu")
        TIMES["net_run"] += t_cpu
        if not err:
            cpu, err = read_outputs(case, cpu, len(refs), labels)
        if err:
            return False, "FAIL %s net_run --backend cpu %s" % (case.name, err)
        vs_cpu = max_errs(got, [c.astype(np.float64) for c in cpu])
        tols = [TOL_OPENCL_VS_CPU] + [max(TOL_OPENCL_VS_CPU, case.tol)] * (len(refs) - 1)
        bad = [describe_error(l, g, c.astype(np.float64), t) + " > tol %.0e" % t
               for l, g, c, e, t in zip(labels, got, cpu, vs_cpu, tols) if e > t]
        if bad:
            return False, "FAIL %s %s vs cpu backend: %s" % (case.name, backend, "; ".join(bad))
        detail += " vs_cpu_backend=%.2g" % max(vs_cpu)
        timing += " cpu %.1fs" % t_cpu

    return True, "ok %s max_abs_err=%.3g (%s) %s %s" % (case.name, worst, detail, ctx, timing)


class TruncatedInput:
    """net_run's contract on failure: an input file one float short must
    give a non-zero exit and a message on stderr."""
    name = "net_run_rejects_truncated_input"

    def run(self, build):
        base = os.path.join(OUT, "cases", self.name)
        x = rembg_input.synthetic_batch(1, 64, 64, 401)
        x.reshape(-1)[:-1].astype("=f4").tofile(base + ".in.f32")
        out_path = base + ".out.f32"
        if os.path.exists(out_path):
            os.remove(out_path)
        p = subprocess.run([os.path.join(build, "tests", "net_run"), REAL_U2NETP,
                            base + ".in.f32", "1", "64", "64", out_path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=NET_RUN_TIMEOUT_S)
        msg = p.stderr.decode(errors="replace").strip()
        if p.returncode == 0 or not msg:
            return False, "FAIL %s exit %d, stderr %r" % (self.name, p.returncode, msg[:200])
        return True, "ok %s exit %d: %s" % (self.name, p.returncode, msg.splitlines()[0][:120])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--reference-only", action="store_true")
    ap.add_argument("--only", help="run only cases whose name contains this")
    ap.add_argument("--backend", choices=["cpu", "opencl"], default="cpu",
                    help="opencl: the OPENCL_CASES through the OpenCL backend, also "
                         "checked against the cpu backend")
    a = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(os.path.join(OUT, "cases"), exist_ok=True)
    if not a.reference_only and not os.access(os.path.join(a.build, "tests", "net_run"), os.X_OK):
        print("FAIL setup: %s is missing; build it with make BUILD=%s %s/tests/net_run"
              % (os.path.join(a.build, "tests", "net_run"), a.build, a.build))
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    t0 = time.time()
    checks = cases()
    if a.backend != "cpu":
        checks = [c for c in checks if c.name in OPENCL_CASES]
        missing = set(OPENCL_CASES) - {c.name for c in checks}
        assert not missing, "OPENCL_CASES names no case: %s" % missing
    elif not a.reference_only:
        checks.append(TruncatedInput())
    for case in checks:
        if a.only and a.only not in case.name:
            continue
        if isinstance(case, Skip):
            print("skip %s: %s" % (case.name, case.why), flush=True)
            continue
        try:
            if isinstance(case, TruncatedInput):
                ok, line = case.run(a.build)
            else:
                ok, line = run_case(case, a.build, a.reference_only, a.backend)
        except Exception as e:  # a broken case must not hide the others
            ok, line = False, "FAIL %s %s: %s" % (case.name, type(e).__name__, e)
        print(line, flush=True)
        passed += ok
        failed += not ok
    print("# %.0f s in all: %s" % (time.time() - t0, ", ".join(
        "%s %.0f s" % kv for kv in TIMES.items())), file=sys.stderr)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
