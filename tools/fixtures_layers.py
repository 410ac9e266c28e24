#!/usr/bin/python3
"""Writes tests/fixtures/layers.bin and layers1d.bin: PyTorch's forward outputs and autograd gradients for every
reference layer, the image (2-D) layers and their 1-D forms for signals [n, c, t].

Run from the repository root with the system interpreter: /usr/bin/python3 tools/fixtures_layers.py
Each case <name> stores its inputs and parameters, the output <name>.y, the upstream gradient <name>.g (a fixed
random tensor: the loss is sum(g * y)) and the gradient of every input and parameter (<name>.dx, .dw, .db, ...).
Hyperparameters are stored as tensors too (<name>.conf), so the C test takes every shape from the file.
layers1d.bin (tests/test_layers1d.c) is drawn from its own seed after layers.bin is written, so adding 1-D cases
leaves layers.bin as it was.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import write_fixture  # noqa: E402

torch.manual_seed(20260)
out = {}


def leaf(t):
    return t.clone().requires_grad_(True)


def backward(name, y, **grads_of):
    """Draws the upstream gradient, back-propagates sum(g * y) and stores y, g and each named gradient."""
    g = torch.randn_like(y)
    (y * g).sum().backward()
    out[name + ".y"] = y
    out[name + ".g"] = g
    for key, t in grads_of.items():
        out[name + "." + key] = t.grad


def conv(name, n, c, h, w, k, r, stride, pad, bias, s=None):
    s = r if s is None else s
    x, wt = leaf(torch.randn(n, c, h, w)), leaf(torch.randn(k, c, r, s) / (c * r * s) ** 0.5)
    b = leaf(torch.randn(k)) if bias else None
    y = F.conv2d(x, wt, b, stride=stride, padding=pad)
    out.update({name + ".x": x, name + ".w": wt, name + ".conf": torch.tensor([stride, pad])})
    if bias:
        out[name + ".b"] = b
        backward(name, y, dx=x, dw=wt, db=b)
    else:
        backward(name, y, dx=x, dw=wt)


def batchnorm(name, shape, train):
    c = shape[1]
    x = leaf(torch.randn(*shape) * 1.5 + 0.7)
    gamma, beta = leaf(torch.rand(c) + 0.5), leaf(torch.randn(c))
    rmean, rvar = torch.randn(c), torch.rand(c) + 0.5
    out.update({name + ".x": x, name + ".gamma": gamma, name + ".beta": beta,
                name + ".running_mean_in": rmean.clone(), name + ".running_var_in": rvar.clone(),
                name + ".momentum": torch.tensor([0.1]), name + ".eps": torch.tensor([1e-5])})
    # F.batch_norm updates the running statistics in place in training mode, as nn.BatchNorm does.
    y = F.batch_norm(x, rmean, rvar, gamma, beta, training=train, momentum=0.1, eps=1e-5)
    backward(name, y, dx=x, dgamma=gamma, dbeta=beta)
    out[name + ".running_mean"], out[name + ".running_var"] = rmean, rvar


conv("conv_s1p1", 2, 3, 6, 6, 4, 3, 1, 1, False)
conv("conv_s2p1_bias", 2, 3, 7, 7, 5, 3, 2, 1, True)
conv("conv_1x1_s2", 2, 4, 6, 6, 6, 1, 2, 0, False)          # the downsample shortcut
conv("conv_7x7_s2p3", 2, 3, 13, 10, 4, 7, 2, 3, False)      # the ImageNet stem on a non-square input
conv("conv_batch1", 1, 2, 5, 5, 3, 3, 1, 1, True)
conv("conv_1x1_spatial", 3, 4, 1, 1, 5, 3, 1, 1, True)      # only the kernel's centre tap sees the input

batchnorm("bn2d_train", (4, 3, 5, 5), True)
batchnorm("bn2d_eval", (4, 3, 5, 5), False)
batchnorm("bn2d_train_1x1", (4, 3, 1, 1), True)
batchnorm("bn1d_train", (6, 5), True)
batchnorm("bn1d_eval", (6, 5), False)

# ReLU: inputs at least 0.1 away from the kink.
x = torch.randn(2, 3, 4, 4)
x = leaf(torch.where(x.abs() < 0.1, x.sign() * 0.1 + x, x))
out["relu.x"] = x
backward("relu", F.relu(x), dx=x)

# Max pool 3x3 stride 2 pad 1 (the ImageNet stem's), a non-square input, and one with many ties.
x = leaf(torch.randn(2, 3, 7, 6))
out.update({"maxpool.x": x, "maxpool.conf": torch.tensor([3, 2, 1])})
backward("maxpool", F.max_pool2d(x, 3, 2, 1), dx=x)
x = leaf(torch.randint(0, 3, (2, 2, 7, 7)).float())
out.update({"maxpool_ties.x": x, "maxpool_ties.conf": torch.tensor([3, 2, 1])})
backward("maxpool_ties", F.max_pool2d(x, 3, 2, 1), dx=x)

for name, shape in (("avgpool", (2, 3, 5, 4)), ("avgpool_1x1", (3, 4, 1, 1))):
    x = leaf(torch.randn(*shape))
    out[name + ".x"] = x
    backward(name, F.adaptive_avg_pool2d(x, 1).flatten(1), dx=x)

for name, (n, i, o, bias) in (("linear_bias", (4, 6, 5, True)), ("linear_nobias", (4, 7, 3, False))):
    x, wt = leaf(torch.randn(n, i)), leaf(torch.randn(o, i) / i ** 0.5)
    out.update({name + ".x": x, name + ".w": wt})
    if bias:
        b = leaf(torch.randn(o))
        out[name + ".b"] = b
        backward(name, F.linear(x, wt, b), dx=x, dw=wt, db=b)
    else:
        backward(name, F.linear(x, wt), dx=x, dw=wt)

a, b = leaf(torch.randn(2, 3, 4)), leaf(torch.randn(2, 3, 4))
out.update({"add.a": a, "add.b": b})
backward("add", a + b, da=a, db=b)

# L2 normalisation with the default eps, and with a large eps that some rows fall below (the clamped branch).
x = leaf(torch.randn(5, 8))
out.update({"l2norm.x": x, "l2norm.eps": torch.tensor([1e-12])})
backward("l2norm", F.normalize(x, dim=1, eps=1e-12), dx=x)
x = leaf(torch.randn(6, 4) * torch.tensor([0.05, 1.0, 0.1, 2.0, 0.08, 0.7]).unsqueeze(1))
out.update({"l2norm_eps.x": x, "l2norm_eps.eps": torch.tensor([0.5])})
backward("l2norm_eps", F.normalize(x, dim=1, eps=0.5), dx=x)

fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
path = os.path.join(fixtures, "layers.bin")
write_fixture(path, out)
print(f"wrote {os.path.normpath(path)}: {len(out)} tensors, {os.path.getsize(path)} bytes")

# ---- 1-D layers: nn.Conv1d, BatchNorm1d on [n, c, t], MaxPool1d, AdaptiveAvgPool1d(1) ----
torch.manual_seed(20261)
out = {}


def conv1d(name, n, c, t, k, size, stride, pad, bias):
    """x [n, c, t], w [k, c, size] (nn.Conv1d's layout), conf [stride, pad]."""
    x, wt = leaf(torch.randn(n, c, t)), leaf(torch.randn(k, c, size) / (c * size) ** 0.5)
    b = leaf(torch.randn(k)) if bias else None
    y = F.conv1d(x, wt, b, stride=stride, padding=pad)
    out.update({name + ".x": x, name + ".w": wt, name + ".conf": torch.tensor([stride, pad])})
    if bias:
        out[name + ".b"] = b
        backward(name, y, dx=x, dw=wt, db=b)
    else:
        backward(name, y, dx=x, dw=wt)


def maxpool1d(name, x, kernel, stride, pad):
    x = leaf(x)
    out.update({name + ".x": x, name + ".conf": torch.tensor([kernel, stride, pad])})
    backward(name, F.max_pool1d(x, kernel, stride, pad), dx=x)


conv1d("conv1d_k3_s1_p1", 2, 3, 16, 4, 3, 1, 1, False)        # the basic block's conv
conv1d("conv1d_k7_s2_p3_bias", 2, 2, 21, 5, 7, 2, 3, True)    # the stem's, on an odd length
conv1d("conv1d_k1_s2", 2, 4, 10, 6, 1, 2, 0, False)           # the downsample shortcut
conv1d("conv1d_k5_s3_p0_bias", 3, 3, 17, 4, 5, 3, 0, True)    # the stride leaves a remainder
conv1d("conv1d_k3_s2_p1_c16", 2, 16, 12, 16, 3, 2, 1, True)   # whole 16-channel blocks (oneDNN's nChw16c)
conv1d("conv1d_k4_s1_p2", 2, 3, 9, 2, 4, 1, 2, False)         # an even kernel: the output is one longer

batchnorm("bn1d_seq_train", (4, 3, 9), True)                  # BatchNorm1d on [n, c, t]
batchnorm("bn1d_seq_eval", (4, 3, 9), False)
batchnorm("bn1d_seq_train_c16", (3, 16, 7), True)

maxpool1d("maxpool1d_k3_s2_p1", torch.randn(2, 3, 15), 3, 2, 1)   # the stem's pool
maxpool1d("maxpool1d_k2_s2", torch.randn(2, 16, 11), 2, 2, 0)
maxpool1d("maxpool1d_ties", torch.randint(0, 3, (2, 2, 13)).float(), 3, 2, 1)

for name, shape in (("avgpool1d", (2, 3, 13)), ("avgpool1d_c16", (3, 16, 5)), ("avgpool1d_t1", (3, 4, 1))):
    x = leaf(torch.randn(*shape))
    out[name + ".x"] = x
    backward(name, F.adaptive_avg_pool1d(x, 1).flatten(1), dx=x)

path = os.path.join(fixtures, "layers1d.bin")
write_fixture(path, out)
print(f"wrote {os.path.normpath(path)}: {len(out)} tensors, {os.path.getsize(path)} bytes")
