"""PyTorch twin of bench/bench_eval.c: the raw-pixel baseline on Fashion-MNIST with the same protocols, timed.

    /usr/bin/python3 tools/bench_eval_twin.py [--data DIR] [--epochs E] [--threads T]

kNN monitor (InstDisc: k 200, t 0.1, cosine, exp(s / t) votes) in blocks of test rows; linear probe (nn.Linear,
cross-entropy, Adam lr 1e-3, weight decay 1e-6, batch 256, shuffled each epoch) on pixels scaled to [0, 1].
The shuffling and initialisation are torch's, not dystress's Philox streams, so the probe's accuracy agrees only to
run-to-run variation; the kNN accuracy is deterministic and should agree to the last digit up to similarity ties.
"""
import argparse
import gzip
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def knn(train, train_y, test, test_y, k=200, t=0.1, classes=10, block=256):
    train = F.normalize(train, dim=1)
    top1 = top5 = 0
    for i in range(0, test.shape[0], block):
        q = F.normalize(test[i:i + block], dim=1)
        w, idx = (q @ train.t()).topk(k, dim=1)
        lab = train_y[idx]
        w = (w / t).exp()
        scores = torch.zeros(q.shape[0], classes).scatter_add_(1, lab, w)
        ranked = scores.argsort(dim=1, descending=True)
        y = test_y[i:i + block]
        top1 += (ranked[:, 0] == y).sum().item()
        top5 += (ranked[:, :5] == y[:, None]).any(dim=1).sum().item()
    return top1 / test.shape[0], top5 / test.shape[0]


def probe(train, train_y, test, test_y, epochs, classes=10, seed=0):
    torch.manual_seed(seed)
    layer = torch.nn.Linear(train.shape[1], classes)
    opt = torch.optim.Adam(layer.parameters(), lr=1e-3, weight_decay=1e-6)
    n = train.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n)
        for b in range(0, n, 256):
            idx = perm[b:b + 256]
            opt.zero_grad()
            F.cross_entropy(layer(train[idx]), train_y[idx]).backward()
            opt.step()
    with torch.no_grad():
        ranked = layer(test).argsort(dim=1, descending=True)
    return (ranked[:, 0] == test_y).float().mean().item(), (ranked[:, :5] == test_y[:, None]).any(1).float().mean().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    xtr = torch.from_numpy(read_idx(f"{a.data}/train-images-idx3-ubyte.gz").reshape(60000, -1).astype(np.float32) / 255)
    xte = torch.from_numpy(read_idx(f"{a.data}/t10k-images-idx3-ubyte.gz").reshape(10000, -1).astype(np.float32) / 255)
    ytr = torch.from_numpy(read_idx(f"{a.data}/train-labels-idx1-ubyte.gz").astype(np.int64))
    yte = torch.from_numpy(read_idx(f"{a.data}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    t0 = time.time()
    k1, k5 = knn(xtr, ytr, xte, yte)
    print(f"torch kNN (k 200, t 0.1)            top-1 {100 * k1:6.2f} %  top-5 {100 * k5:6.2f} %  ({time.time() - t0:.1f} s)")
    t0 = time.time()
    l1, l5 = probe(xtr, ytr, xte, yte, a.epochs)
    print(f"torch linear probe, pixels [0, 1]   top-1 {100 * l1:6.2f} %  top-5 {100 * l5:6.2f} %  "
          f"({time.time() - t0:.1f} s, {a.epochs} epochs)")


if __name__ == "__main__":
    main()
