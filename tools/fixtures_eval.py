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


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    knn_fixture()


if __name__ == "__main__":
    main()
