#!/usr/bin/python3
"""Writes the small seed inputs of the fuzz targets (fuzz/seeds/<target>/) in the real formats, with the
one-to-three-byte selector prefix each target expects (see fuzz/fuzz_*.c). Run: /usr/bin/python3 tools/make_fuzz_seeds.py
"""
import gzip
import io
import os
import struct

import numpy as np
from PIL import Image

ROOT = os.path.join(os.path.dirname(__file__), "..", "fuzz", "seeds")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def idx(arr):
    a = np.asarray(arr, dtype=np.uint8)
    return bytes([0, 0, 8, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape) + a.tobytes()


def main():
    rng = np.random.default_rng(0)
    images = idx(rng.integers(0, 256, (3, 5, 4)))
    labels = idx(np.array([0, 7, 9]))
    put("fuzz_idx", "plain_images", b"\x00\x00\x00" + images)
    put("fuzz_idx", "gzip_images", b"\x00\x00\x00" + gzip.compress(images))
    pair = images + labels
    put("fuzz_idx", "pair", bytes([1, len(images) >> 8, len(images) & 255]) + pair)
    gi, gl = gzip.compress(images), gzip.compress(labels)
    put("fuzz_idx", "pair_gzip", bytes([1, len(gi) >> 8, len(gi) & 255]) + gi + gl)

    rec10 = lambda lab: bytes([lab]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()
    rec100 = lambda c, f: bytes([c, f]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()
    a = rec10(3)
    put("fuzz_cifar", "cifar10_two_files", bytes([0, len(a) >> 8, len(a) & 255]) + a + rec10(9))
    a = rec100(4, 42)
    put("fuzz_cifar", "cifar100_fine", bytes([1, len(a) >> 8, len(a) & 255]) + a + rec100(19, 99))
    put("fuzz_cifar", "cifar100_coarse", bytes([2, 0, 0]) + rec100(0, 1))

    x = rng.integers(0, 256, 3 * 96 * 96, dtype=np.uint8).tobytes()
    put("fuzz_stl10", "labelled", bytes([1, 0, 1]) + x + bytes([4]))
    put("fuzz_stl10", "unlabelled", bytes([0, 0, 0]) + x)

    def pil_bytes(img, fmt, **kw):
        b = io.BytesIO()
        img.save(b, fmt, **kw)
        return b.getvalue()

    rgb = Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8), "RGB")
    put("fuzz_image_decode", "rgb.png", b"\x03" + pil_bytes(rgb, "PNG"))
    put("fuzz_image_decode", "grey.png", b"\x43" + pil_bytes(rgb.convert("L"), "PNG"))
    put("fuzz_image_decode", "rgba.png", b"\x00" + pil_bytes(rgb.convert("RGBA"), "PNG"))
    put("fuzz_image_decode", "palette.png", b"\x00" + pil_bytes(rgb.convert("P"), "PNG"))
    g16 = Image.fromarray((rng.integers(0, 65536, (9, 7))).astype(np.uint16))
    put("fuzz_image_decode", "grey16.png", b"\x00" + pil_bytes(g16, "PNG"))
    big = Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), "RGB")
    put("fuzz_image_decode", "rgb.jpg", b"\x04" + pil_bytes(big, "JPEG", quality=80))
    put("fuzz_image_decode", "progressive.jpg", b"\x00" + pil_bytes(big, "JPEG", quality=60, progressive=True))
    put("fuzz_image_decode", "grey.jpg", b"\x40" + pil_bytes(big.convert("L"), "JPEG", quality=80))
    put("fuzz_image_decode", "cmyk.jpg", b"\x00" + pil_bytes(rgb.convert("CMYK"), "JPEG", quality=80))
    series_seeds()


def npy_bytes(arr):
    b = io.BytesIO()
    np.save(b, arr)
    return b.getvalue()


def series_seeds():
    """fuzz_series: byte 0 = reader and options, byte 1 = labels file kind, bytes 2-3 = where data | labels split."""
    x = npy_bytes((np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 5) / 3)
    lab = npy_bytes(np.array([1, 0], dtype=np.int64))
    put("fuzz_series", "npy_f32_npy_labels", bytes([0, 1, len(x) >> 8, len(x) & 255]) + x + lab)
    x64 = npy_bytes(np.linspace(-1, 1, 15).reshape(3, 5))
    put("fuzz_series", "npy_f64_text_labels", bytes([4, 2, len(x64) >> 8, len(x64) & 255]) + x64 + b"walk\nrun\n\n")
    put("fuzz_series", "npy_nan_skip", bytes([4, 0, 0, 0]) + npy_bytes(np.array([[1.0, np.nan], [2.0, 3.0]])))
    csv = b"# log\nlabel,c0_t0,c0_t1,c1_t0,c1_t1\nwalk,1,2,3,4\nrun,0.5,-1e-3,7,8\n,1,1,1,1\n"
    put("fuzz_series", "csv_header", bytes([1, 0, 0, 0]) + csv)
    put("fuzz_series", "csv_ucr_two_channels", bytes([1 | 2 | 8, 0, 0, 0]) + b"1,0.1,0.2,0.3,0.4\r\n0,1,2,3,4\n")
    put("fuzz_series", "csv_ragged_skip", bytes([1 | 4, 0, 0, 0]) + b"1,2,3\n4,5\n6,nan,7\n8,9,10\n")


if __name__ == "__main__":
    main()
