#!/usr/bin/python3
"""Writes tests/fixtures/sgd.bin: parameters after each of several torch.optim.SGD steps, for tests/test_sgd.c.

Run from the repository root: /usr/bin/python3 tools/fixtures_sgd.py
Per case <name>: <name>.conf = [lr, momentum, dampening, weight_decay, nesterov], <name>.p0 the initial parameters,
<name>.grads [steps, n] the gradient given at each step (fixed random tensors, set as .grad directly),
<name>.params [steps, n] the parameters after each step, <name>.momentum_buffer the optimizer state at the end.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import write_fixture  # noqa: E402

torch.manual_seed(8128)
N, STEPS = 37, 5
CASES = {
    "plain": dict(lr=0.1),
    "momentum": dict(lr=0.05, momentum=0.9),
    "nesterov": dict(lr=0.05, momentum=0.9, nesterov=True),
    "weight_decay": dict(lr=0.1, weight_decay=0.05),
    "momentum_weight_decay": dict(lr=0.06, momentum=0.9, weight_decay=5e-4),
    "dampening": dict(lr=0.05, momentum=0.8, dampening=0.3),
    "nesterov_weight_decay": dict(lr=0.2, momentum=0.5, weight_decay=0.01, nesterov=True),
}

out = {}
for name, kw in CASES.items():
    p0 = torch.randn(N)
    grads = torch.randn(STEPS, N)
    p = p0.clone().requires_grad_(True)
    opt = torch.optim.SGD([p], **kw)
    after = []
    for t in range(STEPS):
        p.grad = grads[t].clone()
        opt.step()
        after.append(p.detach().clone())
    conf = [kw["lr"], kw.get("momentum", 0.0), kw.get("dampening", 0.0), kw.get("weight_decay", 0.0),
            1.0 if kw.get("nesterov", False) else 0.0]
    state = opt.state[p].get("momentum_buffer")
    out.update({name + ".conf": torch.tensor(conf, dtype=torch.float32), name + ".p0": p0, name + ".grads": grads,
                name + ".params": torch.stack(after),
                name + ".momentum_buffer": state if state is not None else torch.zeros(N)})

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "sgd.bin")
write_fixture(path, out)
print(f"wrote {os.path.normpath(path)}: {len(out)} tensors, {os.path.getsize(path)} bytes")
