"""PyTorch twin of bench/bench_step.c: one SimCLR training step of ResNet-18 (CIFAR stem: 3x3 stride-1 conv1, no
max-pool; torchvision's resnet18 otherwise) with the projection head Linear(512, 512, no bias) - BN1d - ReLU -
Linear(512, 128, no bias) - BN1d, 2 x 128 images of 3x32x32 in one batch, the DySTreSS loss (cosine temperature
profile 0.07-0.2 computed from the detached similarities), backward, SGD (lr 0.06, momentum 0.9, weight decay 5e-4).
torch threads = 2. Prints the median images/s, GFLOP/s counted as the C bench counts them (conv and linear MACs x 2
forward, x 2 again backward for data and weight gradients, no data gradient for the first conv) and the peak RSS.

MODE is how PyTorch's CPU users run it (its performance guide): fp32 or bf16 (torch.autocast('cpu',
dtype=torch.bfloat16) around the model; the loss on the float32 projections, as dystress computes it), each with
"-cl" for channels-last model and input. Run it with tcmalloc preloaded (bench_step does): with glibc malloc a step
is 3-4x slower.

Usage: bench_step_torch.py [width] [images per view] [timed steps] [warm-up steps] [fp32|fp32-cl|bf16|bf16-cl]"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    return -1.0


def make_model(width):
    enc = torchvision.models.resnet18(num_classes=10)
    if width != 64:  # narrower ResNet-18: rebuild with the same block layout
        enc = torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, [2, 2, 2, 2])
        enc.inplanes = width
        enc.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        enc.bn1 = nn.BatchNorm2d(width)
        enc.layer1 = enc._make_layer(torchvision.models.resnet.BasicBlock, width, 2)
        enc.layer2 = enc._make_layer(torchvision.models.resnet.BasicBlock, 2 * width, 2, stride=2)
        enc.layer3 = enc._make_layer(torchvision.models.resnet.BasicBlock, 4 * width, 2, stride=2)
        enc.layer4 = enc._make_layer(torchvision.models.resnet.BasicBlock, 8 * width, 2, stride=2)
    enc.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
    enc.maxpool = nn.Identity()
    enc.fc = nn.Identity()
    d = 8 * width
    head = nn.Sequential(nn.Linear(d, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
                         nn.Linear(512, 128, bias=False), nn.BatchNorm1d(128))
    return nn.Sequential(enc, head)


def dystress_loss(z, n, tau_min=0.07, tau_max=0.2):
    """InfoNCE with tau(s) = tau_min + (tau_max - tau_min)/2 (1 + cos(pi (1 + s))), tau from detached s."""
    z = F.normalize(z, dim=1)
    s = z @ z.t()
    with torch.no_grad():
        tau = tau_min + 0.5 * (tau_max - tau_min) * (1 + torch.cos(math.pi * (1 + s)))
    logits = s / tau
    eye = torch.eye(2 * n, dtype=torch.bool)
    logits = logits.masked_fill(eye, float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, target)


def count_flops(model, x):
    macs = []

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            macs.append((mod is first, out.numel() * mod.in_channels * k))
        elif isinstance(mod, nn.Linear):
            macs.append((False, out.numel() * mod.in_features))

    first = model[0].conv1
    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()
        model(x)
        model.train()
    for h in hs:
        h.remove()
    return sum(2 * m * (2 if is_first else 3) for is_first, m in macs)


def main():
    width = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    per_view = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    warmup = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    mode = sys.argv[5] if len(sys.argv) > 5 else "fp32"
    if mode not in ("fp32", "fp32-cl", "bf16", "bf16-cl"):
        sys.exit("unknown mode %r (fp32, fp32-cl, bf16, bf16-cl)" % mode)
    channels_last = mode.endswith("-cl")
    autocast = mode.startswith("bf16")
    torch.set_num_threads(2)
    torch.manual_seed(1)
    n = 2 * per_view
    model = make_model(width)
    opt = torch.optim.SGD(model.parameters(), lr=0.06, momentum=0.9, weight_decay=5e-4)
    idx = torch.arange(n * 3 * 32 * 32, dtype=torch.int64)
    x = (((idx * 7919) % 255).float() / 127.5 - 1.0).reshape(n, 3, 32, 32)
    flops = count_flops(model, x)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    times, losses = [], []
    for s in range(warmup + steps):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            z = model(x)
        loss = dystress_loss(z.float(), per_view)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        t = time.perf_counter() - t0
        if s >= warmup:
            times.append(t)
    times.sort()
    med = times[len(times) // 2]
    print("torch %s %s, %d threads; step times (s): %s; loss per step: %s" % (
        mode, torch.__version__, torch.get_num_threads(), " ".join("%.3f" % t for t in times),
        " ".join("%.4f" % v for v in losses)))
    print("torch %s median %.1f img/s %.1f GFLOP/s peak RSS %.0f MiB" % (
        mode, n / med, flops / med * 1e-9, peak_rss_mib()))


if __name__ == "__main__":
    main()
