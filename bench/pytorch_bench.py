"""PyTorch side of Circumvent's benchmarks (CPU, float32).

    python3 bench/pytorch_bench.py --arch cnn-small|preact-resnet18|resnet18|airnet [--width 1.0] --batch-size 128 \
        --infer-batch-size 256 --threads 2 --steps N [--warmup 2] --json
    python3 bench/pytorch_bench.py --gemm --threads 2 --json
    python3 bench/pytorch_bench.py --recipe-epoch --arch airnet [--width W] --images 5120 --batch-size 1024 --threads 2 --json
    python3 bench/pytorch_bench.py --curve --arch A [--width W] --images 2500 --batch-size 128 --threads 2 --json

Training: SGD (lr 0.01, momentum 0.9) steps on a fixed random batch of 3x32x32 images, mean CE
loss, train mode; images/sec = batch·steps / wall time of the timed steps (after --warmup steps).
Inference: eval mode under torch.no_grad(), same timing rule.

Peak RSS of training: each measurement runs in a fresh child process. After the model, optimizer
and batch exist, the child reads its current RSS (VmRSS from /proc/self/status) as the baseline;
after the timed steps it reads getrusage(RUSAGE_SELF).ru_maxrss (the process high-water mark).
peak_rss_delta_mb = maxrss − baseline: the extra memory a training step needs (activations,
gradients, momentum buffers, allocator caches). peak_rss_mb is the absolute high-water mark.

Curve epoch (--curve): one epoch of TSC curve training written as PyTorch users would, with
torch.nn.utils.stateless.functional_call: per batch one t ~ U(0,1), w(t) = (1−t)²w0 + 2t(1−t)w1 + t²w2
for every parameter (w0, w2 fixed random models, w1 trained), forward in train mode with those
weights, loss = CE + 0.5·1e-4·‖w(t)‖², backward into w1, SGD (lr 0.02, momentum 0.9, wd 5e-4) on w1.
Fixed random images (no augmentation); the timed epoch follows one warm-up epoch.

Recipe epoch (--recipe-epoch): one epoch of airnet trained with airbench's recipe as `circumvent train
--recipe airbench` runs it, on random images: whitening conv weight and BN weights frozen, BN biases at
64x the rate (weight decay /64), Nesterov SGD momentum 0.85, label smoothing 0.2, a triangular rate per
step, lookahead every 5 steps over every float state_dict entry, reflect-padded +-2 translation and a
flip per image each step. Timed from the first step (cold, as the CLI's first epoch is).
GEMM: SGEMM GFLOP/s = 2n³ / time of torch.mm on n×n float32 matrices, best of several repeats.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "fixtures"))
from nets import AirNet, CnnSmall, PreActResNet18, ResNet18  # noqa: E402


def build(arch, width):
    if arch == "cnn-small":
        return CnnSmall(num_classes=10, width=width)
    if arch == "preact-resnet18":
        return PreActResNet18(num_classes=10, width=width)
    if arch == "resnet18":
        return ResNet18(num_classes=10, width=width)
    if arch == "airnet":
        return AirNet(num_classes=10, width=width)
    raise SystemExit(f"unknown --arch {arch!r}; expected cnn-small, preact-resnet18, resnet18 or airnet")


def current_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("VmRSS not found in /proc/self/status")


def max_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def child_train(a):
    torch.manual_seed(0)
    model = build(a.arch, a.width)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(a.batch_size, 3, 32, 32)
    y = torch.randint(0, 10, (a.batch_size,))
    baseline = current_rss_mb()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    elapsed = time.perf_counter() - t0
    peak = max_rss_mb()
    return {"train_images_per_sec": a.batch_size * a.steps / elapsed, "train_step_ms": 1000 * elapsed / a.steps,
            "final_loss": float(loss), "baseline_rss_mb": baseline, "peak_rss_mb": peak,
            "peak_rss_delta_mb": peak - baseline}


def child_infer(a):
    torch.manual_seed(0)
    model = build(a.arch, a.width)
    model.eval()
    x = torch.randn(a.infer_batch_size, 3, 32, 32)
    with torch.no_grad():
        for _ in range(a.warmup):
            model(x)
        t0 = time.perf_counter()
        for _ in range(a.steps):
            model(x)
        elapsed = time.perf_counter() - t0
    return {"infer_images_per_sec": a.infer_batch_size * a.steps / elapsed}


def curve_epoch(a):
    from torch.nn.utils.stateless import functional_call
    torch.manual_seed(0)
    model = build(a.arch, a.width)
    model.train()
    w0 = {k: v.detach().clone() for k, v in model.named_parameters()}
    w2 = {k: build(a.arch, a.width).state_dict()[k].clone() for k in w0}
    w1 = {k: ((w0[k] + w2[k]) / 2).requires_grad_() for k in w0}
    buffers = dict(model.named_buffers())
    opt = torch.optim.SGD(list(w1.values()), lr=0.02, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.images, 3, 32, 32)
    y = torch.randint(0, 10, (a.images,))

    def epoch():
        for i in range(0, a.images, a.batch_size):
            t = float(torch.rand(()))
            c0, c1, c2 = (1 - t) ** 2, 2 * t * (1 - t), t ** 2
            weights = {k: c0 * w0[k] + c1 * w1[k] + c2 * w2[k] for k in w0}
            opt.zero_grad(set_to_none=True)
            out = functional_call(model, {**weights, **buffers}, (x[i:i + a.batch_size],))
            loss = F.cross_entropy(out, y[i:i + a.batch_size])
            loss = loss + 0.5 * 1e-4 * sum((w * w).sum() for w in weights.values())
            loss.backward()
            opt.step()

    epoch()  # warm-up
    t0 = time.perf_counter()
    epoch()
    elapsed = time.perf_counter() - t0
    return {"curve_epoch_seconds": elapsed, "curve_images_per_sec": a.images / elapsed}


def recipe_epoch(a):
    torch.manual_seed(0)
    model = build(a.arch, a.width)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.4
            m.weight.requires_grad_(False)
    model[0].weight.requires_grad_(False)
    model.train()
    lr = 11.5 * a.batch_size / (1024 * (1 + 1 / 0.15))
    wd = 0.0153 / 11.5
    named = [(k, p) for k, p in model.named_parameters() if p.requires_grad]
    bn_biases = [p for k, p in named if "norm" in k]
    others = [p for k, p in named if "norm" not in k]
    opt = torch.optim.SGD([dict(params=bn_biases, lr=lr * 64, weight_decay=wd / 64),
                           dict(params=others, lr=lr, weight_decay=wd)], momentum=0.85, nesterov=True)
    base = [g["lr"] for g in opt.param_groups]
    images = torch.randn(a.images, 3, 32, 32)
    labels = torch.randint(0, 10, (a.images,))
    steps = a.images // a.batch_size
    peak = int(0.23 * steps)
    average = {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}

    def augment(x):
        padded = F.pad(x, (2, 2, 2, 2), mode="reflect")
        dy, dx = torch.randint(0, 5, (2, len(x)))
        out = torch.empty_like(x)
        for i in range(len(x)):
            out[i] = padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        flip = torch.rand(len(x)) < 0.5
        out[flip] = out[flip].flip(-1)
        return out

    t0 = time.perf_counter()
    for step in range(steps):
        f = 0.2 + 0.8 * step / peak if step < peak else 1 - 0.93 * (step - peak) / (steps - peak)
        for g, b in zip(opt.param_groups, base):
            g["lr"] = b * f
        batch = slice(step * a.batch_size, (step + 1) * a.batch_size)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(augment(images[batch])), labels[batch], label_smoothing=0.2)
        loss.backward()
        opt.step()
        if (step + 1) % 5 == 0:
            rho = 0.95 ** 5 * ((step + 1) / steps) ** 3
            with torch.no_grad():
                for k, v in model.state_dict().items():
                    if k in average:
                        average[k].lerp_(v, 1 - rho)
                        v.copy_(average[k])
    elapsed = time.perf_counter() - t0
    return {"recipe_epoch_seconds": elapsed, "recipe_images_per_sec": steps * a.batch_size / elapsed, "final_loss": float(loss)}


def gemm(a):
    results = {}
    for n in [256, 512, 1024, 2048]:
        torch.manual_seed(n)
        A, B = torch.randn(n, n), torch.randn(n, n)
        torch.mm(A, B)  # warm-up
        reps = max(1, int(2e9 / (2 * n ** 3)))  # ~2 GFLOP per timing
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(reps):
                torch.mm(A, B)
            best = min(best, (time.perf_counter() - t0) / reps)
        results[str(n)] = 2 * n ** 3 / best / 1e9
    return {"sgemm_gflops": results}


def run_child(mode, argv):
    """Runs one measurement in a fresh interpreter so its RSS high-water mark is its own."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", mode] + argv,
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="cnn-small")
    p.add_argument("--width", type=float, default=1.0, help="channel-width multiplier")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--infer-batch-size", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--gemm", action="store_true", help="SGEMM GFLOP/s instead of the network benchmark")
    p.add_argument("--curve", action="store_true", help="one TSC curve-training epoch instead of the network benchmark")
    p.add_argument("--images", type=int, default=2500, help="images in the curve or recipe epoch")
    p.add_argument("--recipe-epoch", action="store_true", help="one airbench-recipe training epoch instead of the network benchmark")
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", choices=["train", "infer"], help=argparse.SUPPRESS)
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    if a.child:
        print(json.dumps(child_train(a) if a.child == "train" else child_infer(a)))
        return

    info = {"framework": "pytorch", "torch": torch.__version__, "threads": a.threads}
    if a.gemm:
        result = dict(info, **gemm(a))
    elif a.curve:
        result = dict(info, arch=a.arch, width=a.width, batch_size=a.batch_size, images=a.images, **curve_epoch(a))
    elif a.recipe_epoch:
        result = dict(info, arch=a.arch, width=a.width, batch_size=a.batch_size, images=a.images, **recipe_epoch(a))
    else:
        argv = [arg for arg in sys.argv[1:] if arg != "--json"]
        result = dict(info, arch=a.arch, width=a.width, batch_size=a.batch_size,
                      infer_batch_size=a.infer_batch_size, steps=a.steps, warmup=a.warmup)
        result.update(run_child("train", argv))
        result.update(run_child("infer", argv))
    if a.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:>24}: {v}")


if __name__ == "__main__":
    main()
