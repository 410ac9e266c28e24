#!/usr/bin/env bash
# Issue 22: an exported encoder in PyTorch, as the README shows it.
#   (a) the README's block between the pytorch-snippet markers, run as it is by /usr/bin/python3 in a folder holding
#       encoder.safetensors and a `python` link to the repository's python/ folder: exits 0, prints [8, feature_dim];
#   (b) build_resnet has torchvision's resnet18/resnet50 state-dict keys and shapes (less fc); and
#       python/dystress_torch.py's features equal `dystress embed --raw`'s on the same images (fp32, normwise relative
#       error below 1e-4, as tools/check_torchvision.py) for a width-16, 1-channel, CIFAR-stem ResNet-18 (MNIST-format
#       data) and a width-64, 3-channel, ImageNet-stem one (CIFAR-10-format data), each pretrained one step on a tiny
#       synthetic set, normalised with the mean and std the exported file records;
#   (c) a file without the metadata loads as well (the architecture from its tensors' shapes).
# Needs python3-torch and python3-torchvision (Debian); skipped with a message where they are missing, unless
# DY_REQUIRE_TORCH=1 (CI), where that is a failure. Run from the repository root (tests/run.sh does); ./dystress, or
# $DY_CLI. Ends with the "N passed, N failed" line tests/run.sh counts.
set -u
root=$(pwd)
cli=${DY_CLI:-./dystress}
case "$cli" in /*) ;; *) cli="$root/$cli" ;; esac
py=/usr/bin/python3
passed=0; failed=0
check() { # check OK_STATUS WHAT [DETAIL]
  if [ "$1" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $2"
  else failed=$((failed + 1)); echo "FAIL $2"; [ -n "${3:-}" ] && printf '%s\n' "$3"; fi
}
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

if ! "$py" -c 'import torch, torchvision' 2>/dev/null; then
  if [ "${DY_REQUIRE_TORCH:-}" = 1 ]; then
    check 1 "python3-torch and python3-torchvision are installed (DY_REQUIRE_TORCH=1)"
  else
    echo "skipped: $py cannot import torch and torchvision (apt-get install python3-torch python3-torchvision)"
  fi
  finish
fi
export OMP_NUM_THREADS=2

tmp=$(mktemp -d /tmp/dy_pytorch_XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# tiny synthetic data sets: 64 training and 20 test images in each format
"$py" - "$tmp" <<'EOF'
import os, random, struct, sys
tmp = sys.argv[1]
rnd = random.Random(5)
def image(label, channels, side):
    px = bytearray()
    for c in range(channels):
        for y in range(side):
            for x in range(side):
                v = rnd.randrange(30, 110)
                if abs(x - 3 * label - 2) < 3 and abs(y - side // 2) < 4 + c: v = 220
                px.append(v)
    return bytes(px)
mnist = os.path.join(tmp, "mnist"); os.makedirs(mnist)
for prefix, n in (("train", 64), ("t10k", 20)):
    labels = [i % 4 for i in range(n)]
    with open(os.path.join(mnist, prefix + "-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 16, 16) + b"".join(image(l, 1, 16) for l in labels))
    with open(os.path.join(mnist, prefix + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(labels))
cifar = os.path.join(tmp, "cifar"); os.makedirs(cifar)
for name, n in [("data_batch_%d.bin" % b, 13) for b in range(1, 6)] + [("test_batch.bin", 20)]:
    with open(os.path.join(cifar, name), "wb") as f:
        for i in range(n):
            f.write(bytes([i % 10]) + image(i % 10, 3, 32))
EOF
check $? "synthetic MNIST-format and CIFAR-10-format files written"

# pretrain one step (64 images, one batch of 64; a layout given: no plan tuning), export, embed the test split without
# L2 normalisation
# shellcheck disable=SC2086
prepare() { # prepare NAME DATA-OPTIONS MODEL-OPTIONS
  local name=$1 out
  out=$("$cli" pretrain $2 $3 --batch-size 64 --epochs 1 --knn-every -1 --layout blocked --threads 2 \
        --loader-threads 1 --run-dir "$tmp/$name" 2>&1) &&
    out=$("$cli" export --checkpoint "$tmp/$name/checkpoint-final.safetensors" --out "$tmp/$name.safetensors" 2>&1) &&
    out=$("$cli" embed --checkpoint "$tmp/$name/checkpoint-final.safetensors" --raw --split test \
          --out "$tmp/$name" 2>&1)
  check $? "$name: pretrain one step, export, embed --raw" "$out"
}
prepare grey16 "--data mnist --data-dir $tmp/mnist" "--width 16 --stem cifar"
prepare rgb64 "--data cifar10 --data-dir $tmp/cifar" "--width 64 --stem imagenet"

# (a) the README's snippet, exactly as it is written there
mkdir -p "$tmp/snippet"
awk '/<!-- pytorch-snippet:begin/ {on = 1; next} /<!-- pytorch-snippet:end/ {on = 0} on && !/^```/' \
  "$root/README.md" > "$tmp/snippet/snippet.py"
[ -s "$tmp/snippet/snippet.py" ] && grep -q load_encoder "$tmp/snippet/snippet.py"
check $? "README.md holds the pytorch-snippet block"
cp "$tmp/grey16.safetensors" "$tmp/snippet/encoder.safetensors"
ln -s "$root/python" "$tmp/snippet/python"
out=$(cd "$tmp/snippet" && "$py" snippet.py 2>&1)
rc=$?
[ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q 'torch.Size(\[8, 128\])' &&
  printf '%s\n' "$out" | grep -q "'in_channels': 1"
check $? "the README's snippet runs on a width-16, 1-channel export and prints torch.Size([8, 128]) (exit $rc)" "$out"

# the model is torchvision's: the same state-dict keys and shapes as resnet18() / resnet50(), less fc
out=$("$py" - "$root/python" <<'EOF' 2>&1
import sys
sys.path.insert(0, sys.argv[1])
import torchvision
from dystress_torch import build_resnet
for depth, tv in ((18, torchvision.models.resnet18()), (50, torchvision.models.resnet50())):
    want = {k: tuple(v.shape) for k, v in tv.state_dict().items() if not k.startswith("fc.")}
    got = {k: tuple(v.shape) for k, v in build_resnet(depth, 64, 3, "imagenet").state_dict().items()}
    assert got == want, "ResNet-%d: %s" % (depth, sorted(set(got.items()) ^ set(want.items()))[:4])
EOF
)
check $? "build_resnet(18 and 50, width 64, 3 channels, imagenet stem) has torchvision's keys and shapes" "$out"

# (b) the same features as dystress embed --raw
compare() { # compare NAME DATA-KIND WANT-DEPTH WANT-WIDTH WANT-CHANNELS WANT-STEM WANT-SIZE
  local name=$1 out
  out=$("$py" - "$root/python" "$tmp" "$@" <<'EOF' 2>&1
import struct, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import torch
from dystress_torch import load_encoder, read_metadata
tmp, name, kind = sys.argv[2], sys.argv[3], sys.argv[4]
depth, width, channels, stem, size = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), sys.argv[8], int(sys.argv[9])
model, meta = load_encoder("%s/%s.safetensors" % (tmp, name))
assert not model.training, "the model comes back in eval mode"
want_meta = (depth, width, channels, stem, size, width * 8)
got_meta = (meta["depth"], meta["width"], meta["in_channels"], meta["stem"], meta["image_size"], meta["feature_dim"])
assert got_meta == want_meta, "metadata %r, expected %r" % (got_meta, want_meta)
assert len(meta["mean"]) == channels and len(meta["std"]) == channels, meta
assert read_metadata("%s/%s.safetensors" % (tmp, name)) == {k: v for k, v in meta.items()}, "read_metadata differs"
if kind == "mnist":
    data = open("%s/mnist/t10k-images-idx3-ubyte" % tmp, "rb").read()
    n, h, w = struct.unpack(">III", data[4:16])
    pixels = np.frombuffer(data[16:], dtype=np.uint8).reshape(n, 1, h, w)
else:
    data = np.frombuffer(open("%s/cifar/test_batch.bin" % tmp, "rb").read(), dtype=np.uint8).reshape(-1, 3073)
    pixels = data[:, 1:].reshape(-1, 3, 32, 32)
x = torch.from_numpy(pixels.astype(np.float32) / 255)
x = (x - torch.tensor(meta["mean"]).view(1, -1, 1, 1)) / torch.tensor(meta["std"]).view(1, -1, 1, 1)
with torch.no_grad():
    got = model(x).numpy()
want = np.load("%s/%s_features.npy" % (tmp, name))
assert got.shape == want.shape, "features %r, embed --raw wrote %r" % (got.shape, want.shape)
err = np.abs(got - want).max() / np.abs(want).max()
print("%s: %d images, features %s, normwise relative error %.2e against dystress embed --raw" % (name, len(got),
      got.shape[1], err))
sys.exit(0 if err < 1e-4 else 1)
EOF
)
  check $? "$name: dystress_torch.py's features equal embed --raw's, metadata as trained" "$out"
  printf '%s\n' "$out" | grep -E '^[a-z0-9]+: [0-9]+ images' | sed 's/^/     /'
}
compare grey16 mnist 18 16 1 cifar 16
compare rgb64 cifar 18 64 3 imagenet 32

# a file without the dystress.* metadata (exported before it existed) loads too: the architecture from the shapes
out=$("$py" - "$root/python" "$tmp" <<'EOF' 2>&1
import json, struct, sys
sys.path.insert(0, sys.argv[1])
import torch
from dystress_torch import load_encoder
tmp = sys.argv[2]
data = open("%s/grey16.safetensors" % tmp, "rb").read()
(n,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8:8 + n])
header["__metadata__"] = {"format": "pt"}
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * ((8 - (8 + len(text)) % 8) % 8)
with open("%s/bare.safetensors" % tmp, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data[8 + n:])
bare, meta = load_encoder("%s/bare.safetensors" % tmp)
model, _ = load_encoder("%s/grey16.safetensors" % tmp)
arch = (meta["depth"], meta["width"], meta["in_channels"], meta["stem"], meta["feature_dim"])
assert arch == (18, 16, 1, "cifar", 128), arch
assert meta["image_size"] is None and meta["mean"] is None and meta["std"] is None, meta
a, b = bare.state_dict(), model.state_dict()
assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "other weights"
EOF
)
check $? "a file without dystress.* metadata loads (architecture from its shapes; image_size, mean, std None)" "$out"
finish
