#!/usr/bin/python3
"""Reference outputs of torchvision 0.14's tensor-path transforms for tests/test_data_augment.c.

Each deterministic core (fixed crop box, fixed factors) is applied to float images x = uint8 / 255 in [0, 1], exactly
as the C pipeline works (no rounding to uint8 between steps). Writes tests/fixtures/augment_{crop,color,blur}.bin.
Run: /usr/bin/python3 tools/fixtures_augment.py
"""
import os
import sys

import numpy as np
import torch
import torchvision
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

sys.path.insert(0, os.path.dirname(__file__))
from fixture_io import write_fixture  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")


def test_image(channels, h, w, seed):
    """A smooth pattern plus noise and a few saturated pixels: exercises interpolation, clamping and hue sectors."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    planes = []
    for c in range(channels):
        p = 127 + 100 * torch.sin(xx * (0.3 + 0.2 * c) + yy * (0.2 - 0.1 * c) + c)
        p = p + 40 * torch.randn(h, w, generator=g)
        planes.append(p)
    img = torch.stack(planes).round().clamp(0, 255)
    img[:, 0, 0] = 255
    img[:, 1, 1] = 0
    if channels == 3:
        img[:, 2, 2] = torch.tensor([200.0, 200.0, 50.0])  # ties of the maximum (r == g)
        img[:, 3, 3] = torch.tensor([10.0, 90.0, 90.0])   # g == b
    return img.to(torch.uint8)


def main():
    assert torchvision.__version__.startswith("0.14"), torchvision.__version__
    os.makedirs(OUT, exist_ok=True)
    rgb = test_image(3, 16, 18, 1)
    grey = test_image(1, 16, 18, 2)
    x = rgb.float() / 255
    xg = grey.float() / 255

    bil = InterpolationMode.BILINEAR
    crop = {
        "input": rgb,
        # box (top, left, height, width) -> size: upsampling and downsampling
        "crop_up_box": torch.tensor([3, 5, 10, 11]),
        "crop_up": F.resized_crop(x, 3, 5, 10, 11, [16, 16], bil, antialias=False),
        "crop_down_box": torch.tensor([1, 0, 15, 18]),
        "crop_down": F.resized_crop(x, 1, 0, 15, 18, [8, 10], bil, antialias=False),
        "crop_full_box": torch.tensor([0, 0, 16, 18]),
        "crop_full": F.resized_crop(x, 0, 0, 16, 18, [16, 18], bil, antialias=False),
        # evaluation: Resize(shorter side) + CenterCrop
        "eval_12": F.center_crop(F.resize(x, 12, bil, antialias=False), [12, 12]),
        "eval_24": F.center_crop(F.resize(x, 24, bil, antialias=False), [24, 24]),
        "hflip": F.hflip(x),
    }
    write_fixture(os.path.join(OUT, "augment_crop.bin"), crop)

    color = {
        "input": rgb,
        "input_grey": grey,
        "brightness_1.3": F.adjust_brightness(x, 1.3),
        "brightness_0.7": F.adjust_brightness(x, 0.7),
        "contrast_0.6": F.adjust_contrast(x, 0.6),
        "contrast_1.4": F.adjust_contrast(x, 1.4),
        "saturation_1.4": F.adjust_saturation(x, 1.4),
        "saturation_0.3": F.adjust_saturation(x, 0.3),
        "hue_0.07": F.adjust_hue(x, 0.07),
        "hue_-0.23": F.adjust_hue(x, -0.23),
        "hue_0.5": F.adjust_hue(x, 0.5),
        "grey_brightness_1.3": F.adjust_brightness(xg, 1.3),
        "grey_contrast_0.6": F.adjust_contrast(xg, 0.6),
        "grayscale": F.rgb_to_grayscale(x, num_output_channels=3),
        "solarize_0.5": F.solarize(x, 0.5),
        "normalize": F.normalize(x, [0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]),
    }
    # ColorJitter's four parts in a fixed order with fixed factors: saturation, brightness, hue, contrast.
    j = F.adjust_saturation(x, 1.25)
    j = F.adjust_brightness(j, 0.8)
    j = F.adjust_hue(j, -0.05)
    j = F.adjust_contrast(j, 1.3)
    color["jitter_order_2031"] = j
    write_fixture(os.path.join(OUT, "augment_color.bin"), color)

    blur = {
        "input": rgb,
        "blur_5_1.3": F.gaussian_blur(x, [5, 5], [1.3, 1.3]),
        "blur_7_0.6": F.gaussian_blur(x, [7, 7], [0.6, 0.6]),
        "blur_3_2.0": F.gaussian_blur(x, [3, 3], [2.0, 2.0]),
    }
    write_fixture(os.path.join(OUT, "augment_blur.bin"), blur)
    for n in ("crop", "color", "blur"):
        p = os.path.join(OUT, "augment_%s.bin" % n)
        print(p, os.path.getsize(p), "bytes")


if __name__ == "__main__":
    with torch.no_grad():
        main()
