#!/usr/bin/env python3
"""On-paper scaling of dystress's data-parallel step to P nodes (docs/PERFORMANCE.md, "On paper").

A fluid model, plain Python (no torch): every assumption is a constant below, to be replaced by measured figures.
 - Compute: a node runs the training step at NODE_FLOPS (this machine's measured 311.5 GFLOP/s on 2 cores for the
   ResNet-18 step of bench_step, times 32: a 64-core node); training FLOPs are 3 x forward (2 x MACs), the forward a
   third of the compute and the backward two thirds, the backward spread over the stages in proportion to their
   MACs (counted from torchvision's models with forward hooks).
 - The loss on the gathered global batch runs on every node: LOSS_4096_S, measured 211 ms at N = 4096 (2N rows) on
   2 cores (docs/PERFORMANCE.md, "Loss"; an earlier 1.23 s was measured under load and is withdrawn), / 32 for a
   64-core node, and quadratic in the batch (the pairs), so 6.6 ms at B = 4096 and 0.10 ms at B = 512.
 - Ring all-reduce of S bytes over P nodes: 2 (P-1)/P S / bandwidth + 2 (P-1) latency; all-gather of the embeddings
   (P-1)/P S / bandwidth + (P-1) latency. Links: 25 GbE, 100 GbE, HDR InfiniBand 200 Gb/s (line rates).
 - Overlap (dystress's default): gradients all-reduced in 25 MiB buckets from the buffer's end, a bucket started when
   the backward has produced its last byte (bytes of a stage produced evenly over its share of the backward), the
   buckets one after the other on the link; the step ends when both the backward and the last bucket are done.
Usage: tools/mpi_scaling_model.py
"""
NODE_FLOPS = 311.5e9 * 32
LOSS_4096_S = 0.211 / 32
LINKS = [("25 GbE", 25e9 / 8, 25e-6), ("100 GbE", 100e9 / 8, 10e-6), ("HDR IB 200", 200e9 / 8, 2e-6)]
BUCKET = 25 * 2**20
# per stage: (name, parameters, forward GMAC per image); the projection head 512|2048 -> 512 -> 128 with its BNs
NETS = {
    "ResNet-18, CIFAR 32x32, global batch 512": dict(
        gmac=0.55574656, batch=512, loss_s=LOSS_4096_S * (512 / 4096) ** 2,
        stages=[("conv1", 1856, 0.001769472), ("layer1", 147968, 0.150994944), ("layer2", 525568, 0.134217728),
                ("layer3", 2099712, 0.134217728), ("layer4", 8393728, 0.134217728), ("head", 328960, 0.00032896)]),
    "ResNet-50, ImageNet 224x224, global batch 4096": dict(
        gmac=4.088251648, batch=4096, loss_s=LOSS_4096_S,
        stages=[("conv1", 9536, 0.118013952), ("layer1", 215808, 0.667942912), ("layer2", 1219584, 1.02760448),
                ("layer3", 7098368, 1.464336384), ("layer4", 14964736, 0.809238528), ("head", 1115392, 0.001115392)]),
}


def step(net, p, bw, lat, overlap):
    """(step seconds, compute seconds per node, all-reduce seconds of the whole buffer)"""
    views = 2 * net["batch"] / p
    compute = views * 6e9 * net["gmac"] / NODE_FLOPS
    fwd, bwd = compute / 3, 2 * compute / 3
    macs = sum(s[2] for s in net["stages"])
    total = 4 * sum(s[1] for s in net["stages"])
    gather = (p - 1) / p * 2 * net["batch"] * 128 * 4 / bw + (p - 1) * lat if p > 1 else 0
    start = fwd + gather + net["loss_s"]

    def allreduce(b):
        return 2 * (p - 1) / p * b / bw + 2 * (p - 1) * lat if p > 1 else 0

    if not overlap:
        return start + bwd + allreduce(total), compute, allreduce(total)
    segments, t = [], start
    for _, params, mac in reversed(net["stages"]):
        d = bwd * mac / macs
        segments.append((t, t + d, 4 * params))
        t += d
    bwd_end = t

    def ready(b):  # when the last b bytes of the buffer are final
        acc = 0
        for a, e, nbytes in segments:
            if acc + nbytes >= b:
                return a + (e - a) * (b - acc) / nbytes
            acc += nbytes
        return bwd_end

    link = done = 0
    while done < total:
        b = min(BUCKET, total - done)
        done += b
        link = max(ready(done), link) + allreduce(b)
    return max(bwd_end, link), compute, allreduce(total)


def main():
    for name, net in NETS.items():
        one = step(net, 1, 1, 0, False)[0]
        total = 4 * sum(s[1] for s in net["stages"])
        print(f"{name}: gradients {total / 1e6:.1f} MB, gathered embeddings {2 * net['batch'] * 128 * 4 / 1e6:.2f} MB,"
              f" loss {net['loss_s'] * 1e3:.2f} ms on every node, one node {one * 1e3:.0f} ms per step")
        for p in (8, 64):
            print(f"  {p} nodes: compute {step(net, p, 1, 0, False)[1] * 1e3:.1f} ms per node")
            for link, bw, lat in LINKS:
                s0, _, ar = step(net, p, bw, lat, False)
                s1 = step(net, p, bw, lat, True)[0]
                print(f"    {link:10s} all-reduce {ar * 1e3:5.1f} ms; step {s0 * 1e3:6.1f} ms one call after the "
                      f"backward, {s1 * 1e3:6.1f} ms bucketed: speed-up {one / s0:4.1f}x ({100 * one / s0 / p:3.0f} %)"
                      f" / {one / s1:4.1f}x ({100 * one / s1 / p:3.0f} %)")
        for link, bw, lat in LINKS:
            limits = []
            for overlap in (False, True):
                p = 2
                while p < 100000 and one / step(net, p, bw, lat, overlap)[0] / p >= 0.5:
                    p += 1
                limits.append(p)
            print(f"  {link}: efficiency under 50 % from {limits[0]} nodes (one call), {limits[1]} (bucketed)")


if __name__ == "__main__":
    main()
