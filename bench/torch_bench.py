"""PyTorch's speed on the same network, the peer cutout's GPU numbers are
compared with (bench/gpu.sh). Uses the reference model of tests/reference
(u2net_arch.py: the architecture of rembg's files with BatchNorm folded),
with random weights: fp32 convolution time does not depend on the values.

usage: torch_bench.py --arch u2net|u2netp|isnet [--batch N] [--size S]
                      [--device cuda|cpu] [--iterations N] [--warmup N] [--tf32]

Prints one JSON object: images/s and the median forward time (input on the
device -> every output computed and synchronised), plus the network's
convolution work per image (2 x multiply-adds, counted from the conv layers
as they run) so a caller can state the fraction of the GPU's fp32 peak.

fp32 strictly by default: PyTorch lets cuDNN use TF32 tensor cores for
convolutions unless told not to, which is 10-bit-mantissa arithmetic, not
the fp32 that cutout computes; --tf32 allows it (reported as such).
cudnn.benchmark is on: PyTorch gets its best algorithm per shape, as cutout
gets its measured direct-vs-GEMM choice.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "reference"))
import u2net_arch  # noqa: E402


def conv_flops_per_image(model, size, device):
    """2 x multiply-adds of every Conv2d at this input size, one image."""
    total = [0]

    def hook(mod, inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        total[0] += 2 * k * out.shape[1] * out.shape[2] * out.shape[3]

    hooks = [m.register_forward_hook(hook) for m in model.modules()
             if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size, device=device))
    for h in hooks:
        h.remove()
    return total[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True, choices=["u2net", "u2netp", "isnet"])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (cpu device)")
    a = ap.parse_args()

    cuda = a.device.startswith("cuda")
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = a.tf32
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
    elif a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = u2net_arch.build(a.arch).eval().to(a.device)
    flops = conv_flops_per_image(model, a.size, a.device)
    x = torch.rand(a.batch, 3, a.size, a.size, device=a.device)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    times = []
    with torch.no_grad():
        for i in range(a.warmup + a.iterations):
            sync()
            t = time.perf_counter()
            model(x)
            sync()
            if i >= a.warmup:
                times.append((time.perf_counter() - t) * 1e3)
    med = statistics.median(times)
    out = {
        "runtime": "pytorch " + torch.__version__,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "arch": a.arch, "batch": a.batch, "height": a.size, "width": a.size,
        "precision": "tf32" if (cuda and a.tf32) else "fp32",
        "iterations": a.iterations, "median_ms": round(med, 3), "min_ms": round(min(times), 3),
        "images_per_s": round(a.batch * 1e3 / med, 3),
        "gflop_per_image": round(flops / 1e9, 3),
    }
    if cuda:
        out["peak_mem_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
