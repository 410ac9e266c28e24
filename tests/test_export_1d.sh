#!/usr/bin/env bash
# Issue 26: a 1-D encoder (model dims 1: signals [n, c, t]) in PyTorch.
#   test_model1d --export writes two 1-D encoders as dystress writes weights (a ResNet-18 width 8, 3 channels,
#   ImageNet stem; a ResNet-50 width 4, 2 channels, CIFAR stem; parameters and statistics far from the defaults),
#   signals, and the reference executor's features; python/dystress_torch.py's load_encoder builds ResNet1d from each
#   file (nn.Conv1d weights [out, in, k] as written: nothing reshaped), loads it strictly, and its features on the
#   same signals equal dystress's to 1e-5 (normwise relative error); the metadata says dims 1; and the same file without
#   its metadata still loads as a ResNet1d (the 3-D conv1.weight tells).
# Needs python3-torch (Debian); skipped with a message where it is missing, unless DY_REQUIRE_TORCH=1 (CI). Run from
# the repository root (tests/run.sh does); test_model1d is looked for beside this script, then in build/tests. Ends with
# the "N passed, N failed" line tests/run.sh counts.
set -u
root=$(pwd)
py=/usr/bin/python3
passed=0; failed=0
check() { # check OK_STATUS WHAT [DETAIL]
  if [ "$1" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $2"
  else failed=$((failed + 1)); echo "FAIL $2"; [ -n "${3:-}" ] && printf '%s\n' "$3"; fi
}
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

if ! "$py" -c 'import torch, torchvision, numpy' 2>/dev/null; then
  if [ "${DY_REQUIRE_TORCH:-}" = 1 ]; then
    check 1 "python3-torch, python3-torchvision and numpy are installed (DY_REQUIRE_TORCH=1)"
  else
    echo "skipped: $py cannot import torch, torchvision and numpy (apt-get install python3-torch python3-torchvision)"
  fi
  finish
fi
export OMP_NUM_THREADS=2

bin="$(dirname "$0")/test_model1d"
[ -x "$bin" ] || bin="$root/build/tests/test_model1d"
tmp=$(mktemp -d /tmp/dy_export1d_XXXXXX)
trap 'rm -rf "$tmp"' EXIT

out=$("$bin" --export "$tmp" 2>&1)
check $? "test_model1d --export: two 1-D encoders, signals and their features written" "$out"

for name in r18 r50; do
  out=$("$py" - "$root/python" "$tmp" "$name" <<'EOF' 2>&1
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import torch
from dystress_torch import ResNet1d, load_encoder
tmp, name = sys.argv[2], sys.argv[3]
want = {"r18": (18, 8, 3, "imagenet", 200), "r50": (50, 4, 2, "cifar", 45)}[name]
model, meta = load_encoder("%s/%s.safetensors" % (tmp, name))
assert isinstance(model, ResNet1d), type(model)
assert (meta["depth"], meta["width"], meta["in_channels"], meta["stem"], meta["dims"]) == want[:4] + (1,), meta
assert tuple(model.state_dict()["conv1.weight"].shape) == (want[1], want[2], 7 if want[3] == "imagenet" else 3)
x = torch.from_numpy(np.load("%s/%s_input.npy" % (tmp, name))).view(-1, want[2], want[4])
with torch.no_grad():
    h = model(x).numpy()
ref = np.load("%s/%s_features.npy" % (tmp, name))
assert h.shape == ref.shape, (h.shape, ref.shape)
err = np.abs(h - ref).max() / np.abs(ref).max()
print("%s: normwise relative error %.2e over %s features" % (name, err, ref.shape))
assert err <= 1e-5, err
EOF
)
  check $? "$name: ResNet1d from the file, features equal dystress's to 1e-5" "$out"
  echo "$out" | grep "normwise" | sed 's/^/     /'
done

# the same file without the dystress.* metadata: still a ResNet1d (from conv1.weight's three dimensions)
out=$("$py" - "$root/python" "$tmp" <<'EOF' 2>&1
import json, struct, sys
sys.path.insert(0, sys.argv[1])
from dystress_torch import ResNet1d, load_encoder
tmp = sys.argv[2]
with open("%s/r50.safetensors" % tmp, "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
    data = f.read()
header["__metadata__"] = {"format": "pt"}
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
with open("%s/bare.safetensors" % tmp, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
model, meta = load_encoder("%s/bare.safetensors" % tmp)
assert isinstance(model, ResNet1d) and meta["dims"] == 1 and meta["depth"] == 50 and meta["in_channels"] == 2, meta
EOF
)
check $? "a 1-D file without dystress.* metadata loads as a ResNet1d (dims from conv1.weight)" "$out"
finish
