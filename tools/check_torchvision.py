#!/usr/bin/python3
"""By hand (not part of the tests): checks that safetensors weights move between torchvision and dystress.

1. torchvision's resnet18 with the CIFAR stem (conv1 3x3 stride 1, no max-pool, fc = Identity), random weights and
   running statistics, saved as safetensors (the format written here by hand: python3-safetensors is not in Debian),
   loads into a dystress ResNet-18 and gives the same eval features.
2. A dystress ResNet-18 saved by dy_model_save_weights loads into that torchvision model with strict=True and gives
   the same eval features.

Run from the repository root after `make`: /usr/bin/python3 tools/check_torchvision.py
Other widths, channel counts and stems, through python/dystress_torch.py: tests/test_pytorch_snippet.sh.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from dystress_torch import read_safetensors  # noqa: E402 (the repository's python/ folder)


def cifar_resnet18():
    m = torchvision.models.resnet18()
    m.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    m.maxpool = torch.nn.Identity()
    m.fc = torch.nn.Identity()
    return m


DTYPES = {np.dtype("<f4"): "F32", np.dtype("<i8"): "I64"}


def save_safetensors(path, state_dict):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for k, v in state_dict.items():
        a = v.detach().cpu().numpy()
        a = a.astype("<i8") if a.dtype.kind == "i" else a.astype("<f4")
        raw = np.ascontiguousarray(a).tobytes()
        header[k] = {"dtype": DTYPES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    tmp = tempfile.mkdtemp(prefix="dy_check_tv_")
    exe = os.path.join(tmp, "check_torchvision")
    libs = ["-lz", "-lpng", "-ljpeg", "-lm", "-lpthread"] + (["-ldnnl"] if os.path.exists("/usr/include/dnnl.h") else [])
    subprocess.check_call(["cc", "-O2", "-fopenmp", "-I" + os.path.join(root, "include"),
                           os.path.join(root, "tools", "check_torchvision.c"),
                           os.path.join(root, "build", "libdystress.a"), "-o", exe] + libs)
    torch.manual_seed(0)
    tv = cifar_resnet18()
    with torch.no_grad():  # non-default running statistics and affine parameters
        for mod in tv.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
                mod.num_batches_tracked.fill_(7)
    tv.eval()
    n = 4
    x = torch.randn(n, 3, 32, 32)
    paths = {k: os.path.join(tmp, k) for k in ("tv.safetensors", "input.f32", "ours.safetensors", "tv.f32", "ours.f32")}
    save_safetensors(paths["tv.safetensors"], tv.state_dict())
    x.numpy().astype("<f4").tofile(paths["input.f32"])
    subprocess.check_call([exe, paths["tv.safetensors"], paths["input.f32"], str(n), paths["ours.safetensors"],
                           paths["tv.f32"], paths["ours.f32"]])
    with torch.no_grad():
        want = tv(x).numpy()
    got = np.fromfile(paths["tv.f32"], dtype="<f4").reshape(n, 512)
    err1 = np.abs(got - want).max() / np.abs(want).max()
    print("torchvision weights in dystress: features rel error %.2e" % err1)

    tv2 = cifar_resnet18()
    sd, _ = read_safetensors(paths["ours.safetensors"])
    result = tv2.load_state_dict(sd, strict=True)
    print("dystress weights into torchvision (strict=True):", result)
    tv2.eval()
    with torch.no_grad():
        want2 = tv2(x).numpy()
    got2 = np.fromfile(paths["ours.f32"], dtype="<f4").reshape(n, 512)
    err2 = np.abs(got2 - want2).max() / np.abs(want2).max()
    print("dystress weights in torchvision: features rel error %.2e" % err2)
    nbt = int(sd["bn1.num_batches_tracked"])
    print("bn1.num_batches_tracked after one training forward:", nbt)
    ok = err1 < 1e-4 and err2 < 1e-4 and nbt == 1
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
