#!/usr/bin/python3
"""By hand (not part of the tests): one training step of test_small_widths.c's networks on the reference and the
oneDNN executor, both compared with a float64 evaluation of the same step in PyTorch (the third opinion behind the
tolerances of tests/test_small_widths.c and docs/SMALL_WIDTHS.md).

    /usr/bin/python3 tools/width_oracle.py short|r18 WIDTH SIZE BATCH [--all] [--sensitivity]

Run from the repository root after `make`. It builds tools/width_probe.c against build/libdystress.a, runs the step
and prints, per tensor above 1e-4 (every tensor with --all): the normwise relative error max|got - want| / max|want|
of each executor against float64 and of the two against each other; for convolution weights u * cond, where cond =
max sum|dy x| / max|dW| over the weights (how far a float32 sum of the gradient's terms can be trusted, u = 6e-8);
and the ReLU margin, the smallest |ReLU input| / its channel's spread in float64 (a margin within rounding of 0
means the two executors may pass a gradient element that the other stops). With --sensitivity also the reference's
own change when the input moves by +-1e-6 relative along two random directions (as the test measures it).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

U = 6e-8  # float32 unit roundoff


def build(root, tmp):
    exe = os.path.join(tmp, "width_probe")
    subprocess.check_call(["cc", "-O2", "-std=c11", "-D_GNU_SOURCE", "-fopenmp", "-DDY_HAVE_DNNL=1",
                           "-I" + os.path.join(root, "include"), "-I" + os.path.join(root, "src"),
                           "-I" + os.path.join(root, "tests"), os.path.join(root, "tools", "width_probe.c"),
                           os.path.join(root, "tests", "graph_params.c"), os.path.join(root, "build", "libdystress.a"),
                           "-o", exe, "-lz", "-lpng", "-ljpeg", "-lm", "-lpthread", "-ldnnl"])
    return exe


def load(d, name):
    return np.fromfile(os.path.join(d, name + ".f32"), dtype=np.float32).astype(np.float64)


def float64_step(d):
    """The step in float64 from the dumped graph, parameters, input and output gradient."""
    lines = open(os.path.join(d, "graph.txt")).read().split("\n")
    cin, n, size, feat_v, out_v, _, _ = map(int, lines[0].split())
    nodes = []
    for line in lines[1:]:
        p = line.split()
        if p:
            nodes.append(dict(op=int(p[0]), in0=int(p[1]), in1=int(p[2]), ch=int(p[3]), k=int(p[4]), s=int(p[5]),
                              pad=int(p[6]), w=int(p[7]), b=int(p[8]), eps=float(p[13]), name=p[14]))
    params = torch.tensor(load(d, "params"), requires_grad=True)
    x0 = torch.tensor(load(d, "input").reshape(n, cin, size, size), requires_grad=True)
    dout = torch.tensor(load(d, "dout"))
    vals, convs, margin = [x0], [], (float("inf"), "")
    F = torch.nn.functional
    for nd in nodes:
        x = vals[nd["in0"]]
        c_in = x.shape[1]
        if nd["op"] == 0:  # conv2d
            W = params[nd["w"]:nd["w"] + nd["ch"] * c_in * nd["k"] ** 2].view(nd["ch"], c_in, nd["k"], nd["k"])
            B = params[nd["b"]:nd["b"] + nd["ch"]] if nd["b"] >= 0 else None
            y = F.conv2d(x, W, B, stride=nd["s"], padding=nd["pad"])
            y.retain_grad()
            convs.append((nd, x, W, y))
        elif nd["op"] == 1:  # batch norm, training mode
            dims = (0, 2, 3) if x.dim() == 4 else (0,)
            shape = (1, c_in, 1, 1) if x.dim() == 4 else (1, c_in)
            m = x.mean(dim=dims, keepdim=True)
            v = ((x - m) ** 2).mean(dim=dims, keepdim=True)
            g, b = params[nd["w"]:nd["w"] + c_in], params[nd["b"]:nd["b"] + c_in]
            y = (x - m) / torch.sqrt(v + nd["eps"]) * g.view(shape) + b.view(shape)
        elif nd["op"] == 2:  # relu
            dims = (0, 2, 3) if x.dim() == 4 else (0,)
            r = (x.detach().abs() / x.detach().std(dim=dims, keepdim=True)).min().item()
            if r < margin[0]:
                margin = (r, nd["name"])
            y = torch.relu(x)
        elif nd["op"] == 3:
            y = F.max_pool2d(x, nd["k"], nd["s"], nd["pad"])
        elif nd["op"] == 4:
            y = x.mean(dim=(2, 3))
        elif nd["op"] == 5:
            W = params[nd["w"]:nd["w"] + nd["ch"] * c_in].view(nd["ch"], c_in)
            B = params[nd["b"]:nd["b"] + nd["ch"]] if nd["b"] >= 0 else None
            y = F.linear(x.reshape(n, -1), W, B)
        elif nd["op"] == 6:
            y = x + vals[nd["in1"]]
        else:
            y = x / torch.clamp(x.reshape(n, -1).norm(dim=1), min=nd["eps"]).view(-1, *([1] * (x.dim() - 1)))
        vals.append(y)
    out = vals[out_v].reshape(n, -1)
    (out.reshape(-1) * dout).sum().backward()
    grad = params.grad.numpy()
    cond = {}
    for nd, x, W, y in convs:
        terms = torch.nn.grad.conv2d_weight(x.detach().abs(), W.shape, y.grad.abs(), stride=nd["s"],
                                            padding=nd["pad"]).reshape(-1).max().item()
        cond[nd["name"] + ".weight"] = terms / np.abs(grad[nd["w"]:nd["w"] + W.numel()]).max()
    tensors = [("features", None), ("output", None), ("dinput", None)]
    chans = [cin]
    for nd in nodes:
        c_in = chans[nd["in0"]]
        chans.append(nd["ch"] if nd["op"] in (0, 5) else c_in)
        if nd["w"] >= 0:
            cnt = nd["ch"] * c_in * (nd["k"] ** 2 if nd["op"] == 0 else 1) if nd["op"] in (0, 5) else c_in
            tensors.append((nd["name"] + ".weight", (nd["w"], cnt)))
            if nd["b"] >= 0:
                tensors.append((nd["name"] + ".bias", (nd["b"], nd["ch"] if nd["op"] in (0, 5) else c_in)))
    truth = dict(features=vals[feat_v].detach().numpy().reshape(-1), output=out.detach().numpy().reshape(-1),
                 dinput=x0.grad.numpy().reshape(-1), grad=grad)
    return tensors, truth, cond, margin


def pick(result, name, span):
    if span is None:
        return result[name]
    return result["grad"][span[0]:span[0] + span[1]]


def result_of(d, tag):
    return dict(features=load(d, tag + "_feat"), output=load(d, tag + "_out"), dinput=load(d, tag + "_dx"),
                grad=load(d, tag + "_grad"))


def rel(a, b):
    m = np.abs(b).max()
    return np.abs(a - b).max() / (m if m > 0 else 1.0)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 4 or args[0] not in ("short", "r18"):
        sys.exit(__doc__)
    show_all, sensitivity = "--all" in sys.argv, "--sensitivity" in sys.argv
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    tmp = tempfile.mkdtemp(prefix="dy_width_oracle_")
    exe = build(root, tmp)
    d = os.path.join(tmp, "step")
    os.mkdir(d)
    subprocess.check_call([exe] + args + [d])
    tensors, truth, cond, margin = float64_step(d)
    ref, fast = result_of(d, "ref"), result_of(d, "dnnl")
    moved = []
    if sensitivity:
        for direction in (0, 1):
            for sign in (1, -1):
                dm = os.path.join(tmp, "moved%d%d" % (direction, sign > 0))
                os.mkdir(dm)
                subprocess.check_call([exe] + args + [dm, str(sign * 1e-6), str(direction)],
                                      env=dict(os.environ, ONLY="ref"))
                moved.append(result_of(dm, "ref"))
    print("%s width %s, %s px, batch %s" % tuple(args))
    print("ReLU margin: smallest |input| / channel spread %.3g at %s" % margin)
    print("%-32s %12s %12s %12s %12s%s" % ("tensor", "ref-float64", "dnnl-float64", "dnnl-ref", "u*cond",
                                            " ref moves" if sensitivity else ""))
    worst = [0.0, 0.0, 0.0]
    for name, span in tensors:
        t, r, f = pick(truth, name, span), pick(ref, name, span), pick(fast, name, span)
        e = [rel(r, t), rel(f, t), rel(f, r)]
        worst = [max(a, b) for a, b in zip(worst, e)]
        if show_all or max(e) > 1e-4:
            s = max((rel(pick(m, name, span), r) for m in moved), default=None)
            print("%-32s %12.3g %12.3g %12.3g %12s%s" % (name, e[0], e[1], e[2],
                                                          "%.3g" % (U * cond[name]) if name in cond else "",
                                                          " %11.3g" % s if s is not None else ""))
    print("largest: reference %.3g, oneDNN %.3g from float64; %.3g between them" % tuple(worst))


if __name__ == "__main__":
    main()
