#!/usr/bin/python3
"""Writes tests/fixtures/model_*.bin: whole networks (ResNet + projection head) run by PyTorch, for tests/test_model.c.

torchvision's BasicBlock has no width parameter, so the twin here is a small ResNet of our own whose state_dict names
equal torchvision's (asserted against torchvision.models.resnet18/resnet50 at width 64).

Parameters, input and dz are not stored: both this script and the C test fill every tensor of the state_dict (in
order, index t) and the input (t = 1000) and dz (t = 1001) from the same integer hash (fill_value below), which keeps
the fixtures small. Stored: features h, output z, every parameter gradient of sum(z * dz), the BN state after the step, and for the ResNet-18
three SGD steps (momentum 0.9, weight decay 5e-4, lr 0.1) with z at each step and a few parameter tensors after it.

Run: /usr/bin/python3 tools/fixtures_model.py  (from the repository root)
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import write_fixture  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class Net(nn.Module):
    """torchvision's ResNet without fc, any width and input channels, CIFAR or ImageNet stem, optional head."""

    def __init__(self, depth, width, in_ch, imagenet_stem, head=None):
        super().__init__()
        block, blocks = (BasicBlock, [2, 2, 2, 2]) if depth == 18 else (Bottleneck, [3, 4, 6, 3])
        if imagenet_stem:
            self.conv1 = nn.Conv2d(in_ch, width, 7, 2, 3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_ch, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if imagenet_stem else nn.Identity()
        inplanes = width
        for i, n in enumerate(blocks):
            layers = []
            for b in range(n):
                layers.append(block(inplanes, width << i, 2 if (i > 0 and b == 0) else 1))
                inplanes = (width << i) * block.expansion
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dim = inplanes
        self.head = None
        if head:
            hidden, out = head
            self.head = nn.Sequential(nn.Linear(inplanes, hidden, bias=False), nn.BatchNorm1d(hidden),
                                      nn.ReLU(inplace=True), nn.Linear(hidden, out, bias=False), nn.BatchNorm1d(out))

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        h = torch.flatten(self.avgpool(x), 1)
        return h, (self.head(h) if self.head is not None else h)


def check_names():
    for depth, tv in ((18, torchvision.models.resnet18()), (50, torchvision.models.resnet50())):
        want = [k for k in tv.state_dict().keys() if not k.startswith("fc.")]
        got = list(Net(depth, 64, 3, True).state_dict().keys())
        assert got == want, "state_dict names differ from torchvision's resnet%d" % depth
        for k, v in Net(depth, 64, 3, True).state_dict().items():
            assert v.shape == tv.state_dict()[k].shape, k


M32 = 0xFFFFFFFF


def fill_value(t, count):
    """uniform values in [-1, 1) with 2^-23 spacing (exact in float32) from an integer hash of (tensor t, index i);
    tests/test_model.c computes the same."""
    i = np.arange(count, dtype=np.uint64)
    x = (i * np.uint64(0x9E3779B1) + np.uint64((t * 0x85EBCA77 + 0x165667B1) & M32)) & np.uint64(M32)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x2C1B3C6D)) & np.uint64(M32)
    x ^= x >> np.uint64(12)
    x = (x * np.uint64(0x297A2D39)) & np.uint64(M32)
    x ^= x >> np.uint64(15)
    return (x >> np.uint64(8)).astype(np.float64) * 2.0 ** -23 - 1.0


def fill_model(net):
    """Every state_dict tensor t from fill_value(t, .): weights u*sqrt(3/fan_in) (variance 1/fan_in), BN weight
    1 + u/4, bias u/4, running mean u/10, running var 1 + (u+1)/4, num_batches_tracked 3."""
    sd = net.state_dict()
    new = {}
    for t, (k, v) in enumerate(sd.items()):
        if k.endswith("num_batches_tracked"):
            new[k] = torch.tensor(3, dtype=torch.int64)
            continue
        u = fill_value(t, v.numel())
        if k.endswith("running_mean"):
            a = 0.1 * u
        elif k.endswith("running_var"):
            a = 1.0 + 0.25 * (u + 1.0)
        elif v.dim() == 1 and k.endswith(".weight"):
            a = 1.0 + 0.25 * u
        elif v.dim() == 1:
            a = 0.25 * u
        else:
            a = u * np.sqrt(3.0 / (v.numel() // v.shape[0]))
        new[k] = torch.from_numpy(a.astype(np.float32).reshape(v.shape))
    net.load_state_dict(new)


def state_tensors(net, prefix):
    return {prefix + k: v.clone() for k, v in net.state_dict().items() if "running" in k or "num_batches" in k}


def formula_tensor(t, shape, scale=1.0):
    """A float32 tensor of fill_value(t, .) * scale (rounded once, as the C test does)."""
    return torch.from_numpy((scale * fill_value(t, int(np.prod(shape)))).astype(np.float32).reshape(shape))


def train_fixture(depth, width, in_ch, imagenet, head, n, size, sgd_steps, keep, name, eval_name=None):
    """PyTorch in float64 on the float32 parameters, input and dz: the reference is exact to float32 precision, so
    the tolerance measures only our own rounding. Input = fill_value(1000), dz = 0.05 * fill_value(1001)."""
    net = Net(depth, width, in_ch, imagenet, head)
    fill_model(net)
    net = net.double()
    x = formula_tensor(1000, (n, in_ch, size, size)).double()
    out_dim = head[1] if head else net.dim
    dz = formula_tensor(1001, (n, out_dim), 0.05).double()
    fx = {}
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    named = dict(net.named_parameters())
    for step in range(max(1, sgd_steps)):
        opt.zero_grad()
        h, z = net(x)
        (z * dz).sum().backward()
        if step == 0:
            fx["features"], fx["z"] = h, z
            for k, p in named.items():
                fx["grad." + k] = p.grad.clone()
            fx.update(state_tensors(net, "state."))
        else:
            fx["step%d.z" % step] = z
        if sgd_steps:
            opt.step()
            with torch.no_grad():  # our parameters are float32: round as the C side does after each step
                for p in net.parameters():
                    p.copy_(p.float().double())
            for k in keep:
                fx["step%d.%s" % (step, k)] = named[k].detach().clone()
    if sgd_steps:
        fx.update(state_tensors(net, "final."))
    write_fixture(os.path.join(OUT, name), fx)
    print(name, os.path.getsize(os.path.join(OUT, name)), "bytes")
    if eval_name:
        # Evaluation mode of the filled model (running statistics as filled), same input.
        net2 = Net(depth, width, in_ch, imagenet, head)
        fill_model(net2)
        net2 = net2.double().eval()
        with torch.no_grad():
            h, z = net2(x)
        write_fixture(os.path.join(OUT, eval_name), {"features": h, "z": z})
        print(eval_name, os.path.getsize(os.path.join(OUT, eval_name)), "bytes")


def main():
    check_names()
    torch.set_num_threads(1)
    # Batches are larger than the brief's 6 because batch norm over few values amplifies rounding: at batch 6 even
    # PyTorch float32 drifts from float64 by 1e-2 after two SGD steps; at 16 by 2e-5 (measured).
    # ResNet-18, width 4, CIFAR stem, 3 channels, 16x16, batch 16, head 32/16: forward, backward, 3 SGD steps.
    train_fixture(18, 4, 3, False, (32, 16), 16, 16, 3,
                  ["conv1.weight", "layer1.0.bn1.weight", "layer3.1.conv2.weight", "layer2.0.downsample.0.weight",
                   "head.3.weight", "head.4.bias"],
                  "model_r18_train.bin", eval_name="model_r18_eval.bin")
    # ResNet-50, width 2, ImageNet stem, 1 channel, 64x64 (layer4 2x2), batch 16, head 16/8: forward and backward.
    train_fixture(50, 2, 1, True, (16, 8), 16, 64, 0, [], "model_r50_train.bin")


if __name__ == "__main__":
    main()
