#!/usr/bin/python3
"""PyTorch/torchvision twin of bench/bench_data.c's first figure: the paper's small-image recipe on 32x32 CIFAR-like
PIL images (the usual SimCLR CIFAR path: PIL transforms, ToTensor, Normalize), two views per image, a DataLoader with
2 worker processes, batches of 256, drop-last. Prints prepared views per second.
Run: /usr/bin/python3 tools/bench_data_torch.py [seconds]
     /usr/bin/python3 tools/bench_data_torch.py --train   (PyTorch training step rate, the stand-in comparison)
"""
import sys
import time

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image


class TwoViews(torch.utils.data.Dataset):
    def __init__(self, n, size):
        rng = np.random.default_rng(0)
        self.images = [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]
        self.tf = T.Compose([
            T.RandomResizedCrop(size, scale=(0.08, 1.0)),
            T.RandomHorizontalFlip(0.5),
            T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            T.RandomGrayscale(0.2),
            T.ToTensor(),
            T.Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
        ])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = self.images[i]
        return self.tf(img), self.tf(img), 0


def worker_init(_):
    torch.set_num_threads(1)


def main():
    secs = float(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "--train" else 5.0
    ds = TwoViews(4096, 32)
    dl = torch.utils.data.DataLoader(ds, batch_size=256, shuffle=True, drop_last=True, num_workers=2,
                                     worker_init_fn=worker_init, persistent_workers=True)
    it = iter(dl)
    next(it)  # warm-up
    n, t0 = 0, time.time()
    while time.time() - t0 < secs:
        try:
            a, b, _ = next(it)
        except StopIteration:
            it = iter(dl)
            continue
        n += a.shape[0] + b.shape[0]
    dt = time.time() - t0
    print("torchvision small recipe 32x32 (PIL path, DataLoader 2 workers): %.0f views/s" % (n / dt))


if __name__ == "__main__" and "--train" not in sys.argv:
    main()


def train_rate(secs=10.0, batch=128):
    """Stand-in for the engine's figure while it is pending: PyTorch (oneDNN CPU) training steps of ResNet-18 with
    the CIFAR stem on 2 x batch views of 32x32, in views per second."""
    import torchvision
    torch.set_num_threads(2)
    m = torchvision.models.resnet18(num_classes=128)
    m.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    m.maxpool = torch.nn.Identity()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    x = torch.randn(2 * batch, 3, 32, 32)
    steps, t0 = 0, None
    while t0 is None or time.time() - t0 < secs:
        loss = m(x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if t0 is None:
            t0 = time.time()  # after the first (warm-up) step
        else:
            steps += 1
    dt = time.time() - t0
    print("PyTorch ResNet-18 (CIFAR stem) training, 2 threads, %d views per step: %.1f views/s (%.2f s/step)"
          % (2 * batch, steps * 2 * batch / dt, dt / max(steps, 1)))


if __name__ == "__main__" and "--train" in sys.argv:
    train_rate()
