"""A whole airbench94 training in PyTorch on CPU, as airbench writes it, on a CIFAR-10 folder in the official binary
layout: the reference that `circumvent train --arch airnet --recipe airbench` is compared with (accuracy and time).

    /usr/bin/python3 bench/airbench_reference.py CIFAR10_DIR [--width 1] [--epochs 9.9] [--seed 0] [--threads 2] [--json]

The recipe is airbench94's (Keller Jordan, cifar10-airbench; re-written here, not copied): patch-whitening start of
the first conv from the first 5000 normalised training images; summed label-smoothed (0.2) loss; Nesterov SGD at
momentum 0.85 with lr 11.5/(1024·k) and decay 0.0153·B/(1024·k), k = 1 + 1/(1 − 0.85), BN biases at 64× the rate
(same decay per step), BN scales and the whitening weight frozen, the whitening bias trained for 3 epochs; the
triangle 0.2 → 1 (23% of the steps) → 0.07 per step; lookahead every 5 steps with ρ = 0.95⁵·(step/T)³ and a final
copy; batch 1024 with the last partial batch dropped; reflect-padded ±2 translation and the alternating flip (each
image flipped by one coin for the run, inverted on odd epochs). The network is tools/fixtures/nets.AirNet (float32).
Test accuracy is reported at TTA levels 0, 1 (mirror) and 2 (mirror + two 1-pixel translations).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "fixtures"))
from nets import AirNet  # noqa: E402

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


def read_batches(folder, names):
    records = np.concatenate([np.fromfile(os.path.join(folder, n), dtype=np.uint8).reshape(-1, 3073) for n in names])
    labels = torch.from_numpy(records[:, 0].astype(np.int64))
    images = torch.from_numpy(records[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255)
    return (images - MEAN) / STD, labels


def whitening_weight(images, eps=5e-4):
    c = images.shape[1]
    patches = images.unfold(2, 2, 1).unfold(3, 2, 1).transpose(1, 3).reshape(-1, c, 2, 2).double()
    flat = patches.reshape(len(patches), -1)
    values, vectors = torch.linalg.eigh(flat.T @ flat / len(flat), UPLO="U")
    values, vectors = values.flip(0).view(-1, 1, 1, 1), vectors.T.reshape(-1, c, 2, 2).flip(0)
    scaled = vectors / torch.sqrt(values + eps)
    return torch.cat((scaled, -scaled)).float()


def translate(padded, size=32):
    # Per image a shift in [-2, 2]² of the reflect-padded images.
    n, pad = len(padded), (padded.shape[-1] - size) // 2
    out = torch.empty(n, padded.shape[1], size, size)
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n))
    for i in range(n):
        out[i] = padded[i, :, dy[i]:dy[i] + size, dx[i]:dx[i] + size]
    return out


@torch.no_grad()
def evaluate(model, images, labels, tta):
    model.eval()
    correct = 0
    for start in range(0, len(images), 1000):
        x = images[start:start + 1000]

        def mirror(v):
            return 0.5 * model(v) + 0.5 * model(v.flip(-1))
        if tta == 0:
            logits = model(x)
        elif tta == 1:
            logits = mirror(x)
        else:
            padded = F.pad(x, (1,) * 4, mode="reflect")
            shifted = 0.5 * (mirror(padded[:, :, 0:32, 0:32]) + mirror(padded[:, :, 2:34, 2:34]))
            logits = 0.5 * mirror(x) + 0.5 * shifted
        correct += int((logits.argmax(1) == labels[start:start + 1000]).sum())
    return 100.0 * correct / len(images)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cifar")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--epochs", type=float, default=9.9)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    train_x, train_y = read_batches(a.cifar, [f"data_batch_{i}.bin" for i in range(1, 6)])
    test_x, test_y = read_batches(a.cifar, ["test_batch.bin"])

    model = AirNet(num_classes=10, width=a.width, bn_momentum=0.4)
    # airbench's start (nets.AirNet keeps PyTorch's defaults, which parity fixtures overwrite): every 3×3 conv's first
    # in_channels filters are identity (dirac) filters, and the whitening conv's bias starts at zero.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3):
                torch.nn.init.dirac_(m.weight[:m.weight.size(1)])
        model[0].bias.zero_()
    t0 = time.perf_counter()
    with torch.no_grad():
        model[0].weight.copy_(whitening_weight(train_x[:5000]))
    model[0].weight.requires_grad = False
    for name, p in model.named_parameters():
        if "norm" in name and name.endswith("weight"):
            p.requires_grad = False
    momentum, batch = 0.85, a.batch_size
    kilostep = 1024 * (1 + 1 / (1 - momentum))
    lr, wd = 11.5 / kilostep, 0.0153 * batch / kilostep
    norm_biases = [p for k, p in model.named_parameters() if "norm" in k and p.requires_grad]
    others = [p for k, p in model.named_parameters() if "norm" not in k and p.requires_grad]
    optimizer = torch.optim.SGD([dict(params=norm_biases, lr=lr * 64, weight_decay=wd / (lr * 64)),
                                 dict(params=others, lr=lr, weight_decay=wd / lr)], momentum=momentum, nesterov=True)
    batches = len(train_x) // batch
    total = math.ceil(batches * a.epochs)

    def triangle(step):
        warmup = int(total * 0.23)
        if step < warmup:
            return 0.2 + 0.8 * step / warmup
        return 1.0 - 0.93 * (step - warmup) / (total - warmup)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, triangle)
    alpha = 0.95 ** 5 * (torch.arange(total + 1, dtype=torch.float64) / total) ** 3
    average = {k: v.clone() for k, v in model.state_dict().items()}

    def lookahead(decay):
        with torch.no_grad():
            for k, v in model.state_dict().items():
                if v.is_floating_point():
                    average[k].lerp_(v, 1 - decay)
                    v.copy_(average[k])

    flipped = torch.where((torch.rand(len(train_x)) < 0.5).view(-1, 1, 1, 1), train_x.flip(-1), train_x)
    padded = F.pad(flipped, (2,) * 4, mode="reflect")
    steps, log = 0, []
    for epoch in range(math.ceil(a.epochs)):
        model[0].bias.requires_grad = epoch < 3
        model.train()
        images = translate(padded)
        if epoch % 2 == 1:
            images = images.flip(-1)
        order = torch.randperm(len(images))
        seen, loss_sum, correct = 0, 0.0, 0
        for b in range(batches):
            idx = order[b * batch:(b + 1) * batch]
            out = model(images[idx])
            loss = F.cross_entropy(out, train_y[idx], label_smoothing=0.2, reduction="none").sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            steps += 1
            seen += len(idx)
            loss_sum += float(loss)
            correct += int((out.argmax(1) == train_y[idx]).sum())
            if steps % 5 == 0:
                lookahead(alpha[steps].item())
            if steps >= total:
                lookahead(1.0)
                break
        log.append({"epoch": epoch + 1, "loss": loss_sum / seen, "train_acc": 100.0 * correct / seen, "seconds": time.perf_counter() - t0})
        if not a.json:
            print(json.dumps(log[-1]), flush=True)
    train_seconds = time.perf_counter() - t0
    result = {"width": a.width, "epochs": a.epochs, "seed": a.seed, "threads": a.threads, "steps": steps, "train_seconds": train_seconds,
              "images_per_sec": steps * batch / train_seconds, "epochs_log": log,
              "test_acc": {f"tta{t}": evaluate(model, test_x, test_y, t) for t in (0, 1, 2)}}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
