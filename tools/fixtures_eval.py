"""Reference fixtures for the evaluation and optimizer code (tests/test_knn.c, test_linear_probe.c, test_adam.c,
test_lars.c, test_npy.c), computed plainly with PyTorch / NumPy.

Run from the repository root:  /usr/bin/python3 tools/fixtures_eval.py
Writes tests/fixtures/eval_*.bin (the DYFX format of tools/fixture_io.py) and tests/fixtures/eval_*.npy.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import write_fixture  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


def clustered(gen, n, dim, classes, spread):
    """Rows drawn around one random centre per class; labels uniform."""
    centres = torch.randn(classes, dim, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, classes, (n,), generator=gen)
    x = centres[labels] + spread * torch.randn(n, dim, generator=gen, dtype=torch.float64)
    return x.float(), labels


def knn_monitor(train, train_y, test, k, t, classes):
    """The usual weighted kNN monitor (InstDisc): top-k cosine neighbours, exp(s / t) votes summed per class.
    Classes are ranked by score with a stable sort, so equal scores keep the lower class index first."""
    train = F.normalize(train, dim=1)
    test = F.normalize(test, dim=1)
    sim = test @ train.t()
    w, idx = sim.topk(k, dim=1)
    lab = train_y[idx]
    w = (w / t).exp()
    one_hot = torch.zeros(test.shape[0] * k, classes).scatter(-1, lab.reshape(-1, 1), 1.0)
    scores = (one_hot.view(test.shape[0], k, classes) * w.unsqueeze(-1)).sum(dim=1)
    ranked = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :5]
    # The fixture is only meaningful where float rounding cannot change the neighbour set or the ranking.
    s64 = np.sort((F.normalize(test.double(), dim=1) @ F.normalize(train.double(), dim=1).t()).numpy(), axis=1)[:, ::-1]
    gap = s64[:, k - 1] - s64[:, k] if k < train.shape[0] else np.full(test.shape[0], 1.0)
    assert gap.min() > 1e-5, f"neighbour margin too small: {gap.min()}"
    top = np.sort(scores.numpy(), axis=1)[:, ::-1][:, :6]
    d = top[:, :-1] - top[:, 1:]
    assert (d[d > 0].min() / top.max()) > 1e-5, "class score margin too small"
    return scores, ranked


def knn_fixture():
    gen = torch.Generator().manual_seed(5)
    classes, dim = 7, 12
    train, train_y = clustered(gen, 400, dim, classes, 1.2)
    test, test_y = clustered(gen, 60, dim, classes, 1.2)
    # Rows of different scale: the C code must normalise them itself.
    train = train * torch.exp(torch.randn(400, 1, generator=gen))
    test = test * torch.exp(torch.randn(60, 1, generator=gen))
    out = {"train": train, "train_labels": train_y, "test": test, "test_labels": test_y,
           "classes": torch.tensor([classes])}
    for name, k, t in (("a", 50, 0.1), ("b", 200, 0.5), ("c", 1, 0.1)):
        scores, ranked = knn_monitor(train, train_y, test, k, t, classes)
        out[f"{name}_k"] = torch.tensor([k])
        out[f"{name}_t"] = torch.tensor([t])
        out[f"{name}_scores"] = scores
        out[f"{name}_ranked"] = ranked
    write_fixture(os.path.join(OUT, "eval_knn.bin"), out)


ADAM_CASES = (  # name, optimizer class, lr, weight decay, betas, eps
    ("adam", torch.optim.Adam, 1e-2, 0.0, (0.9, 0.999), 1e-8),
    ("adam_l2", torch.optim.Adam, 3e-3, 0.1, (0.8, 0.99), 1e-6),
    ("adamw", torch.optim.AdamW, 1e-2, 0.05, (0.9, 0.999), 1e-8),
)


def adam_fixture():
    """A few steps of torch.optim.Adam / AdamW on one flat tensor with given gradients."""
    gen = torch.Generator().manual_seed(7)
    n, steps = 257, 6
    p0 = torch.randn(n, generator=gen)
    grads = torch.randn(steps, n, generator=gen) * torch.logspace(-3, 1, n)  # gradients across scales
    out = {"params0": p0, "grads": grads}
    for name, cls, lr, wd, betas, eps in ADAM_CASES:
        p = torch.nn.Parameter(p0.clone())
        opt = cls([p], lr=lr, weight_decay=wd, betas=betas, eps=eps)
        for s in range(steps):
            p.grad = grads[s].clone()
            opt.step()
        st = opt.state[p]
        out[f"{name}_params"] = p.detach().clone()
        out[f"{name}_exp_avg"] = st["exp_avg"].clone()
        out[f"{name}_exp_avg_sq"] = st["exp_avg_sq"].clone()
        out[f"{name}_hyper"] = torch.tensor([lr, wd, betas[0], betas[1], eps], dtype=torch.float64)
    write_fixture(os.path.join(OUT, "eval_adam.bin"), out)


# (offset, count, exclude): a conv weight, its BN weight and bias (excluded), a linear weight, a bias (excluded),
# a weight tensor that is all zero (||w|| = 0: trust ratio 1), a weight whose gradient is zero.
LARS_SEGMENTS = ((0, 96, 0), (96, 8, 1), (104, 8, 1), (112, 64, 0), (176, 16, 1), (192, 20, 0), (212, 30, 0))


def lars_plain(params, grads, bufs, segments, lr, momentum, wd, eta, nesterov):
    """SimCLR's LARS with classic momentum, one tensor (segment) at a time, written plainly in float32 torch."""
    for off, cnt, exclude in segments:
        w = params[off:off + cnt]
        g = grads[off:off + cnt].clone()
        v = bufs[off:off + cnt]
        trust = 1.0
        if not exclude:
            g = g + wd * w
            w_norm, g_norm = torch.norm(w), torch.norm(g)
            if w_norm > 0 and g_norm > 0:
                trust = (eta * w_norm / g_norm).item()
        scaled_lr = lr * trust
        next_v = momentum * v + scaled_lr * g
        update = momentum * next_v + scaled_lr * g if nesterov else next_v
        v.copy_(next_v)
        w.sub_(update)


def lars_fixture():
    gen = torch.Generator().manual_seed(9)
    n = LARS_SEGMENTS[-1][0] + LARS_SEGMENTS[-1][1]
    steps = 5
    p0 = torch.randn(n, generator=gen) * 0.5
    p0[192:212] = 0.0
    grads = torch.randn(steps, n, generator=gen) * 0.1
    grads[:, 212:242] = 0.0
    out = {"params0": p0, "grads": grads,
           "segments": torch.tensor(LARS_SEGMENTS, dtype=torch.int64)}
    for name, lr, momentum, wd, eta, nesterov in (("plain", 2.0, 0.9, 1e-4, 0.001, False),
                                                  ("nesterov", 5.0, 0.8, 1e-2, 0.02, True)):
        # In float64: the reference is the formula itself; float32 torch and float32 C differ from it by rounding
        # (up to ~1e-6 relative on the zero-gradient segment, which shrinks by weight decay alone).
        params, bufs = p0.double(), torch.zeros(n, dtype=torch.float64)
        for s in range(steps):
            lars_plain(params, grads[s].double(), bufs, LARS_SEGMENTS, lr, momentum, wd, eta, nesterov)
        out[f"{name}_params"] = params
        out[f"{name}_momentum"] = bufs
        out[f"{name}_hyper"] = torch.tensor([lr, momentum, wd, eta, float(nesterov)], dtype=torch.float64)
    write_fixture(os.path.join(OUT, "eval_lars.bin"), out)


PROBE_CASES = (("paper", 1e-3, 1e-6), ("fast", 5e-2, 1e-2))  # name, lr, weight decay


def probe_fixture():
    """A linear probe (nn.Linear + cross-entropy + Adam) from a given init over given batches (index lists)."""
    gen = torch.Generator().manual_seed(13)
    dim, classes, n = 20, 5, 64
    x, y = clustered(gen, n, dim, classes, 1.0)
    w0 = (torch.rand(classes, dim, generator=gen) * 2 - 1) / dim ** 0.5
    b0 = (torch.rand(classes, generator=gen) * 2 - 1) / dim ** 0.5
    perm = torch.randperm(n, generator=gen)
    batches = [perm[0:16], perm[16:32], perm[32:48], perm[48:57], perm[57:64], perm[5:29]]
    sizes = torch.tensor([len(b) for b in batches])
    out = {"x": x, "y": y, "w0": w0, "b0": b0, "batch_index": torch.cat(batches), "batch_size": sizes}
    test_x, _ = clustered(gen, 12, dim, classes, 1.0)
    out["test_x"] = test_x
    for name, lr, wd in PROBE_CASES:
        layer = torch.nn.Linear(dim, classes)
        with torch.no_grad():
            layer.weight.copy_(w0)
            layer.bias.copy_(b0)
        opt = torch.optim.Adam(layer.parameters(), lr=lr, weight_decay=wd)
        losses = []
        for b in batches:
            opt.zero_grad()
            loss = F.cross_entropy(layer(x[b]), y[b])
            loss.backward()
            opt.step()
            losses.append(loss.item())
        out[f"{name}_weight"] = layer.weight.detach().clone()
        out[f"{name}_bias"] = layer.bias.detach().clone()
        out[f"{name}_loss"] = torch.tensor(losses)
        out[f"{name}_test_logits"] = layer(test_x).detach()
    write_fixture(os.path.join(OUT, "eval_probe.bin"), out)


def npy_fixture():
    """Files written by numpy.save, and the same arrays in the DYFX format for the comparison."""
    rng = np.random.default_rng(17)
    f32 = rng.standard_normal((3, 5)).astype("<f4")
    i64 = np.array([0, -1, 2 ** 40, 9, -(2 ** 62), 3, 7], dtype="<i8")
    np.save(os.path.join(OUT, "eval_npy_f32.npy"), f32)
    np.save(os.path.join(OUT, "eval_npy_i64.npy"), i64)
    write_fixture(os.path.join(OUT, "eval_npy.bin"), {"f32": f32, "i64": i64})


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    knn_fixture()
    adam_fixture()
    lars_fixture()
    probe_fixture()
    npy_fixture()


if __name__ == "__main__":
    main()
