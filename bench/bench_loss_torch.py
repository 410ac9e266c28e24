#!/usr/bin/python3
"""PyTorch twin of bench/bench_loss.c: the same DySTreSS loss (SimCLR form, cosine profile 0.07..0.2, raw
projections L2-normalised inside), written the natural full-matrix way, forward + backward, torch threads = 2.

Usage: bench_loss_torch.py N [D] [REPS] [WARMUP]   prints one line:
    torch N=<N> d=<D> reps=<R> median_ms=<ms> gemm_ms=<ms> peak_rss_mb=<MB> base_rss_mb=<MB>
peak_rss_mb is the process's RSS high-water mark; base_rss_mb the RSS after importing torch and making the input.
gemm_ms is the time of the three (2N x 2N x d) matrix products alone that the loss's forward and backward do
(S = Z Z^T, and dZ = G Z + G^T Z): the part of median_ms that depends on the BLAS torch was built with.
"""
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def dystress_loss(x, n, tau_min=0.07, tau_max=0.2):
    z = F.normalize(x, dim=1)
    s = z @ z.t()
    with torch.no_grad():  # the temperature is computed from the detached similarity
        tau = tau_min + 0.5 * (tau_max - tau_min) * (1 + torch.cos(math.pi * (1 + s)))
    logits = (s / tau).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    labels = (torch.arange(2 * n) + n) % (2 * n)
    return F.cross_entropy(logits, labels)


def main():
    n = int(sys.argv[1])
    d = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    warmup = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    torch.set_num_threads(2)
    torch.manual_seed(0)
    x = torch.randn(2 * n, d)
    base = rss_mb()
    times, gemms = [], []
    for _ in range(reps + warmup):
        xi = x.clone().requires_grad_(True)
        t0 = time.perf_counter()
        loss = dystress_loss(xi, n)
        loss.backward()
        times.append(time.perf_counter() - t0)
        with torch.no_grad():
            z = F.normalize(x, dim=1)
            t0 = time.perf_counter()
            g = z @ z.t()
            _ = g @ z
            _ = g.t() @ z
            gemms.append(time.perf_counter() - t0)
            del g, z
    times = sorted(times[warmup:])
    gemms = sorted(gemms[warmup:])
    gemm = gemms[len(gemms) // 2]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"torch N={n} d={d} reps={reps} median_ms={1000 * times[len(times) // 2]:.3f} "
          f"gemm_ms={1000 * gemm:.3f} "
          f"peak_rss_mb={peak:.1f} base_rss_mb={base:.1f}", flush=True)


if __name__ == "__main__":
    main()
