#!/usr/bin/python3
"""Reference values for tests/test_loss.c and tests/test_metrics.c, computed with PyTorch autograd in float64.

The loss is written here plainly over the full similarity matrix, independently of the C code: for 2N rows
[view0; view1], anchor i has positive p(i) = (i + N) mod 2N; tau is computed from the detached similarity
(as the reference code does), so autograd treats it as a constant. Diagnostics are computed here from the same
full matrix. Run: /usr/bin/python3 tools/fixtures_loss.py   (writes tests/fixtures/loss_*.bin, metrics.bin)
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import write_fixture  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
BINS = 40  # DY_LOSS_HIST_BINS: equal bins over [-1, 1]

# kind codes as in dy_tau_kind
PROFILES = {
    "const": dict(kind=0, tau_min=0.1, tau_max=0.1, offset=0.0, scale=1.0),
    "cosine": dict(kind=1, tau_min=0.07, tau_max=0.2, offset=0.0, scale=1.0),
    "shiftneg": dict(kind=2, tau_min=0.07, tau_max=0.2, offset=-0.4, scale=0.7),
    "shiftpos": dict(kind=2, tau_min=0.07, tau_max=0.2, offset=0.2, scale=0.8),
}


def f32(v):
    """The float32 value the C code holds for a parameter."""
    return float(np.float32(v))


def tau_of(s, p):
    """tau(s) for a profile, elementwise on a detached float64 tensor (docs/METHOD.md, 'The loss')."""
    lo, hi = f32(p["tau_min"]), f32(p["tau_max"])
    if p["kind"] == 0:
        return torch.full_like(s, hi)
    if p["kind"] == 1:
        return lo + 0.5 * (hi - lo) * (1 + torch.cos(math.pi * (1 + s)))
    o, k = f32(p["offset"]), f32(p["scale"])
    curve = lo + 0.5 * (hi - lo) * (1 + torch.cos(math.pi * (s + o) / k))
    # plateau tau_max where s > -o; the curve where s <= -o (one mask, for either sign of o)
    return torch.where(s > -o, torch.full_like(s, hi), curve)


def simclr(x, n, p, raw, decoupled):
    """Loss of the SimCLR form; returns (loss, S, tau) with S and tau detached full matrices."""
    z = F.normalize(x, dim=1) if raw else x
    s = z @ z.t()
    tau = tau_of(s.detach(), p)
    logits = s / tau
    rows = 2 * n
    idx = torch.arange(rows)
    pos = (idx + n) % rows
    denom_mask = torch.ones(rows, rows, dtype=torch.bool)
    denom_mask[idx, idx] = False
    if decoupled:
        denom_mask[idx, pos] = False
    masked = logits.masked_fill(~denom_mask, float("-inf"))
    loss = (-logits[idx, pos] + torch.logsumexp(masked, dim=1)).mean()
    return loss, s.detach(), tau


def moco(q, k, queue, p, raw, decoupled):
    qn = F.normalize(q, dim=1) if raw else q
    kn = F.normalize(k, dim=1) if raw else k
    s_pos = (qn * kn.detach()).sum(1)
    s_neg = qn @ queue.t()
    t_pos = tau_of(s_pos.detach(), p)
    t_neg = tau_of(s_neg.detach(), p)
    a_pos, a_neg = s_pos / t_pos, s_neg / t_neg
    if decoupled:
        loss = (-a_pos + torch.logsumexp(a_neg, dim=1)).mean()
    else:
        logits = torch.cat([a_pos[:, None], a_neg], dim=1)
        loss = F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))
    return loss, s_pos.detach(), t_pos, s_neg.detach(), t_neg


def hist(s):
    b = np.floor((s + 1.0) * (BINS / 2)).astype(np.int64)
    return np.bincount(np.clip(b, 0, BINS - 1), minlength=BINS)


def safe_for_counts(s_all, tau_all, p):
    """True when no similarity sits within 1e-5 of a histogram edge and no tau within 1e-5 (relative) of the
    1 % thresholds, so that float rounding in C cannot move a count."""
    edges = (s_all + 1.0) * (BINS / 2)
    if np.min(np.abs(edges - np.round(edges))) < 1e-5 * BINS / 2:
        return False
    lo, hi = f32(p["tau_min"]), f32(p["tau_max"])
    for thr in (1.01 * lo, 0.99 * hi):
        d = np.abs(tau_all - thr) / thr
        if p["kind"] != 0 and np.min(d) < 1e-5:
            return False
    return True


def diagnostics(loss, s_pos, t_pos, s_neg, t_neg, p):
    lo, hi = f32(p["tau_min"]), f32(p["tau_max"])
    t_all = np.concatenate([t_pos, t_neg])
    return {
        "diag_loss": np.array([loss]),
        "diag_pos_sim_mean": np.array([s_pos.mean()]),
        "diag_neg_sim_mean": np.array([s_neg.mean()]),
        "diag_neg_sim_max": np.array([s_neg.max()]),
        "diag_pos_tau_mean": np.array([t_pos.mean()]),
        "diag_neg_tau_mean": np.array([t_neg.mean()]),
        "diag_frac_near_tau_min": np.array([np.mean(t_all <= 1.01 * lo)]),
        "diag_frac_near_tau_max": np.array([np.mean(t_all >= 0.99 * hi)]),
        "diag_pos_pairs": np.array([len(s_pos)], dtype=np.int64),
        "diag_neg_pairs": np.array([len(s_neg)], dtype=np.int64),
        "diag_pos_hist": hist(s_pos),
        "diag_neg_hist": hist(s_neg),
    }


def views(gen, n, d, raw):
    """2N rows [view0; view1]: two noisy copies of N base vectors, so positives are more similar than negatives;
    raw rows get random norms, normalised rows are unit-norm in float32."""
    base = torch.randn(n, d, generator=gen, dtype=torch.float64)
    v = torch.cat([base + 0.7 * torch.randn(n, d, generator=gen, dtype=torch.float64),
                   base + 0.7 * torch.randn(n, d, generator=gen, dtype=torch.float64)])
    if raw:
        v = v * torch.exp(torch.randn(2 * n, 1, generator=gen, dtype=torch.float64))
    else:
        v = F.normalize(v, dim=1)
    return v.float().double()  # the float32 values the C test reads


def params(p, n, raw, decoupled, extra=None):
    out = {
        "kind": np.array([p["kind"]], dtype=np.int64),
        "tau_min": np.array([p["tau_min"]]), "tau_max": np.array([p["tau_max"]]),
        "offset": np.array([p["offset"]]), "scale": np.array([p["scale"]]),
        "n": np.array([n], dtype=np.int64),
        "raw": np.array([int(raw)], dtype=np.int64), "decoupled": np.array([int(decoupled)], dtype=np.int64),
    }
    out.update(extra or {})
    return out


def simclr_case(name, p, raw, decoupled, n=13, d=16, seed=1):
    for attempt in range(100):
        gen = torch.Generator().manual_seed(seed * 1000 + attempt)
        x = views(gen, n, d, raw).requires_grad_(True)
        loss, s, tau = simclr(x, n, p, raw, decoupled)
        rows = 2 * n
        idx = np.arange(rows)
        pos = (idx + n) % rows
        s_np, t_np = s.numpy(), tau.numpy()
        neg_mask = np.ones((rows, rows), dtype=bool)
        neg_mask[idx, idx] = False
        neg_mask[idx, pos] = False
        s_pos, t_pos = s_np[idx, pos], t_np[idx, pos]
        s_neg, t_neg = s_np[neg_mask], t_np[neg_mask]
        if safe_for_counts(np.concatenate([s_pos, s_neg]), np.concatenate([t_pos, t_neg]), p):
            break
    else:
        raise SystemExit(f"{name}: no seed kept counts away from edges")
    loss.backward()
    data = params(p, n, raw, decoupled)
    data.update({"x": x.detach(), "loss": np.array([loss.item()]), "grad": x.grad})
    data.update(diagnostics(loss.item(), s_pos, t_pos, s_neg, t_neg, p))
    write_fixture(os.path.join(OUT, f"{name}.bin"), data)


def moco_case(name, p, raw, decoupled, n=11, queue_len=37, d=16, seed=2):
    for attempt in range(100):
        gen = torch.Generator().manual_seed(seed * 1000 + attempt)
        both = views(gen, n, d, raw)
        q, k = both[:n].clone().requires_grad_(True), both[n:].clone()
        queue = F.normalize(torch.randn(queue_len, d, generator=gen, dtype=torch.float64), dim=1).float().double()
        loss, s_pos, t_pos, s_neg, t_neg = moco(q, k, queue, p, raw, decoupled)
        s_pos, t_pos = s_pos.numpy(), t_pos.numpy()
        s_neg, t_neg = s_neg.numpy().ravel(), t_neg.numpy().ravel()
        if safe_for_counts(np.concatenate([s_pos, s_neg]), np.concatenate([t_pos, t_neg]), p):
            break
    else:
        raise SystemExit(f"{name}: no seed kept counts away from edges")
    loss.backward()
    data = params(p, n, raw, decoupled, {"queue_len": np.array([queue_len], dtype=np.int64)})
    data.update({"q": q.detach(), "k": k, "queue": queue, "loss": np.array([loss.item()]), "grad": q.grad})
    data.update(diagnostics(loss.item(), s_pos, t_pos, s_neg, t_neg, p))
    write_fixture(os.path.join(OUT, f"{name}.bin"), data)


def metrics_case():
    gen = torch.Generator().manual_seed(7)
    n, d, classes = 50, 12, 4
    x = torch.randn(n, d, generator=gen, dtype=torch.float64) * 3
    y = x + 0.8 * torch.randn(n, d, generator=gen, dtype=torch.float64)
    x, y = x.float().double(), y.float().double()
    labels = torch.randint(0, classes, (n,), generator=gen)
    xn, yn = F.normalize(x, dim=1), F.normalize(y, dim=1)
    align2 = (xn - yn).norm(dim=1).pow(2).mean().item()
    align1 = (xn - yn).norm(dim=1).pow(1).mean().item()
    iu = torch.triu_indices(n, n, offset=1)
    sq = torch.cdist(xn, xn).pow(2)[iu[0], iu[1]]
    unif2 = sq.mul(-2).exp().mean().log().item()
    unif1 = sq.mul(-1).exp().mean().log().item()
    s = xn @ xn.t()
    same = (labels[:, None] == labels[None, :]) & ~torch.eye(n, dtype=torch.bool)
    tol = s[same].mean().item()
    frac = same.double().sum().item() / (n * (n - 1))
    write_fixture(os.path.join(OUT, "metrics.bin"), {
        "x": x, "y": y, "labels": labels, "classes": np.array([classes], dtype=np.int64),
        "alignment2": np.array([align2]), "alignment1": np.array([align1]),
        "uniformity2": np.array([unif2]), "uniformity1": np.array([unif1]),
        "tolerance": np.array([tol]), "same_class_fraction": np.array([frac])})


def check_constant_is_nt_xent():
    """With the constant profile the loss must be SimCLR's NT-Xent as usually written: cross-entropy over the
    2N-1 logits s_ik / tau0 of each row (self masked) with the other view as the label."""
    gen = torch.Generator().manual_seed(5)
    n, tau0 = 9, 0.1
    z = F.normalize(torch.randn(2 * n, 8, generator=gen, dtype=torch.float64), dim=1)
    ours, _, _ = simclr(z, n, dict(kind=0, tau_min=tau0, tau_max=tau0, offset=0.0, scale=1.0), False, False)
    logits = (z @ z.t() / f32(tau0)).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    labels = (torch.arange(2 * n) + n) % (2 * n)
    nt_xent = F.cross_entropy(logits, labels)
    assert abs(ours.item() - nt_xent.item()) < 1e-12, (ours.item(), nt_xent.item())


def main():
    torch.set_num_threads(1)
    check_constant_is_nt_xent()
    os.makedirs(OUT, exist_ok=True)
    for pname, p in PROFILES.items():
        for raw in (True, False):
            inp = "raw" if raw else "unit"
            simclr_case(f"loss_simclr_{pname}_{inp}", p, raw, False)
            simclr_case(f"loss_dcl_{pname}_{inp}", p, raw, True)
            moco_case(f"loss_moco_{pname}_{inp}", p, raw, False)
    moco_case("loss_mocodcl_cosine_raw", PROFILES["cosine"], True, True)
    # a larger batch with a wide spread of similarities (several tiles at the test's small tile sizes)
    simclr_case("loss_simclr_cosine_raw_n40", PROFILES["cosine"], True, False, n=40, d=24, seed=3)
    metrics_case()


if __name__ == "__main__":
    main()
