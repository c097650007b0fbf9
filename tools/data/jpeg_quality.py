"""Estimates how a CIFAR-10 binary folder was JPEG-compressed (its README says it was re-encoded as JPEG):
the luma quantisation steps and whether chroma was subsampled. Explains part of the accuracy gap to published
CIFAR-10 figures (RESULTS.md, airnet section).

    /usr/bin/python3 tools/data/jpeg_quality.py CIFAR10_DIR [--images 2000]

Method: a 32×32 image is four 8×8 JPEG blocks per side, aligned to the grid. The orthonormal 8×8 DCT of the
decoded luma (JPEG's own transform) puts each coefficient near a multiple of its quantisation step; rounding the
decoded pixels adds noise of about 0.3 per coefficient, so steps of 3 and more stand out. For each coefficient
the largest step whose mean distance to the nearest multiple (in units of the step) is well below 0.25 (the
value for unquantised data) is that coefficient's step. The steps are compared with the standard (Annex K)
luma table scaled by libjpeg's quality formula. Chroma subsampling (4:2:0) shows as chroma that is nearly
constant inside each 2×2 cell while luma is not.
"""
import argparse
import os

import numpy as np

# JPEG Annex K luminance table, row-major (u = row frequency, v = column frequency).
LUMA = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55], [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62], [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]])


def libjpeg_table(quality):
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip((LUMA * scale + 50) // 100, 1, 255)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cifar")
    ap.add_argument("--images", type=int, default=2000)
    a = ap.parse_args()
    records = np.fromfile(os.path.join(a.cifar, "data_batch_1.bin"), dtype=np.uint8).reshape(-1, 3073)[:a.images]
    rgb = records[:, 1:].reshape(-1, 3, 32, 32).astype(np.float64)
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    luma = 0.299 * r + 0.587 * g + 0.114 * b - 128
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b
    k = np.arange(8)
    dct = np.sqrt(2 / 8) * np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / 16)
    dct[0] /= np.sqrt(2)
    blocks = luma.reshape(-1, 4, 8, 4, 8).transpose(0, 1, 3, 2, 4).reshape(-1, 8, 8)
    coefficients = np.einsum("uk,nkl,vl->nuv", dct, blocks, dct)

    def step(values):
        for q in range(40, 1, -1):
            if np.abs(values / q - np.round(values / q)).mean() < 0.12:
                return q
        return 1

    measured = np.array([[step(coefficients[:, u, v]) for v in range(4)] for u in range(4)])
    print("luma steps, low 4x4 frequencies (measured):")
    print(measured)
    errors = {q: int(np.abs(libjpeg_table(q)[:4, :4] - measured).sum()) for q in range(50, 100)}
    best = min(errors, key=errors.get)
    print(f"closest libjpeg quality: {best} (summed step difference {errors[best]}; table {libjpeg_table(best)[:4, :4].tolist()})")

    def within_cell_variance(plane):
        return plane.reshape(-1, 16, 2, 16, 2).var(axis=(2, 4)).mean()
    vy, vb, vr = (within_cell_variance(p) for p in (luma, cb, cr))
    print(f"variance inside 2x2 cells: luma {vy:.1f}, Cb {vb:.1f}, Cr {vr:.1f}"
          f" -> chroma {'subsampled (4:2:0)' if max(vb, vr) < 0.05 * vy else 'at full resolution'}")


if __name__ == "__main__":
    main()
