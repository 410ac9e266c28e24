"""Load an encoder trained by dystress into PyTorch: usable as it is, no build, no package beyond torch and torchvision.

    import sys; sys.path.insert(0, "python")          # this folder of the dystress repository
    from dystress_torch import load_encoder
    model, meta = load_encoder("encoder.safetensors")  # written by `dystress export`
    x = (images - torch.tensor(meta["mean"]).view(1, -1, 1, 1)) / torch.tensor(meta["std"]).view(1, -1, 1, 1)
    features = model(x)                                 # images: [N, in_channels, H, W] in [0, 1]

A 1-D encoder (signals [N, in_channels, T]: audio, time series; metadata dystress.dims "1") comes back as ResNet1d:
the same network in one dimension (nn.Conv1d, BatchNorm1d, MaxPool1d, AdaptiveAvgPool1d), the same module names and
state-dict keys; dystress writes its conv weights as nn.Conv1d's [out, in, k], so the file's tensors load as they are:

    model, meta = load_encoder("signal_encoder.safetensors")
    features = model(x)                                 # x: [N, in_channels, T]

The image model is torchvision's ResNet-18 or ResNet-50 at the file's base width, input channels and stem: torchvision's
own BasicBlock and Bottleneck, the same module names and state-dict keys as torchvision.models.resnet18/resnet50
(conv1, bn1, layer1 .. layer4, fc), with fc an Identity, so that model(x) is the encoder's features h, the output of
the global average pool ([N, feature_dim]; what `dystress embed --raw` writes, before any L2 normalisation). The
weights are loaded strictly (every tensor of the encoder, none missing, none left over but a "head.*" projection head
that `dystress export --with-head` adds, which is not part of the encoder). The model comes back in eval mode: batch
norm uses the running statistics of training, as `dystress embed` does.

The file's "__metadata__" (all strings, as the safetensors format requires), written by `dystress export` and by
pretrain's checkpoints (docs/PYTORCH.md):

    dystress.format_version  "1"
    dystress.depth           "18" (BasicBlock [2, 2, 2, 2]) or "50" (Bottleneck [3, 4, 6, 3])
    dystress.width           base width: "64" is torchvision's; layer k has width * 2^(k-1) planes
    dystress.in_channels     "1" (grey) or "3" (RGB)
    dystress.stem            "cifar": conv 3x3 stride 1, no max-pool (small images);
                             "imagenet": conv 7x7 stride 2, max-pool 3x3 stride 2 (torchvision's)
    dystress.feature_dim     width of the features: width * 8 (ResNet-18) or width * 32 (ResNet-50)
    dystress.dims            "1" for a 1-D encoder of signals (ResNet1d; any in_channels); absent for images
    dystress.image_size      side of the images the encoder was trained on ("H,W" when not square)
    dystress.mean            the per-channel mean that training subtracted, on pixels in [0, 1] ("0.286")
    dystress.std             the per-channel standard deviation it divided by ("0.353")

The meta dict of load_encoder and read_metadata has them typed: format_version, depth, width, in_channels,
feature_dim, dims (1-D encoders only) and image_size ints (image_size a (height, width) tuple when not square), stem
a str, mean and std lists of in_channels floats. A file without the dystress.* keys (written before they existed, or by another program)
still loads: the architecture is then read from the tensors' shapes, and image_size, mean and std are None.
"""
import json
import struct
import sys

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

__all__ = ["load_encoder", "read_metadata", "read_safetensors", "build_resnet", "build_resnet1d", "ResNetEncoder",
           "ResNet1d"]

_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
           "BOOL": torch.bool}
_LAYERS = {18: (BasicBlock, [2, 2, 2, 2]), 50: (Bottleneck, [3, 4, 6, 3])}
_INT_KEYS = ("format_version", "depth", "width", "in_channels", "feature_dim", "dims")


def _read_header(f, path):
    head = f.read(8)
    if len(head) != 8:
        raise ValueError("%s: too short for a safetensors file" % path)
    (n,) = struct.unpack("<Q", head)
    if n < 2 or n > 100 * 1024 * 1024:
        raise ValueError("%s: safetensors header length %d is not plausible" % (path, n))
    text = f.read(n)
    if len(text) != n:
        raise ValueError("%s: truncated safetensors header" % path)
    header = json.loads(text)
    if not isinstance(header, dict):
        raise ValueError("%s: the safetensors header is not a JSON object" % path)
    return header, 8 + n


def read_safetensors(path):
    """(tensors, metadata): every tensor of the file as a torch tensor (a dict in file order), and its "__metadata__"
    as strings. The safetensors format read with the standard library: an 8-byte little-endian header length, a JSON
    header of name -> {dtype, shape, data_offsets}, then the data."""
    if sys.byteorder != "little":
        raise RuntimeError("safetensors data is little-endian; this reader runs on little-endian machines only")
    with open(path, "rb") as f:
        header, start = _read_header(f, path)
        f.seek(0, 2)
        data_size = f.tell() - start
        f.seek(start)
        data = bytearray(f.read())
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, e in header.items():
        dtype = _DTYPES.get(e.get("dtype"))
        if dtype is None:
            raise ValueError("%s: tensor %s has dtype %r, not one this reader knows" % (path, name, e.get("dtype")))
        begin, end = e["data_offsets"]
        shape = [int(d) for d in e["shape"]]
        numel = 1
        for d in shape:
            numel *= d
        size = torch.tensor([], dtype=dtype).element_size()
        if not 0 <= begin <= end <= data_size or end - begin != numel * size:
            raise ValueError("%s: tensor %s has data_offsets [%d, %d] for %d elements in %d bytes of data"
                             % (path, name, begin, end, numel, data_size))
        if numel == 0:
            tensors[name] = torch.empty(shape, dtype=dtype)
        else:
            tensors[name] = torch.frombuffer(data, dtype=dtype, count=numel, offset=begin).reshape(shape).clone()
    return tensors, metadata


def _typed(metadata):
    meta = {}
    for key, value in metadata.items():
        if not key.startswith("dystress."):
            continue
        k = key[len("dystress."):]
        if k in _INT_KEYS:
            meta[k] = int(value)
        elif k == "image_size":
            sides = [int(v) for v in value.split(",")]
            meta[k] = sides[0] if len(sides) == 1 or sides[0] == sides[1] else (sides[0], sides[1])
        elif k in ("mean", "std"):
            meta[k] = [float(v) for v in value.split(",")]
        else:
            meta[k] = value
    return meta


def read_metadata(path):
    """The dystress.* metadata of a safetensors file, typed (see the module's docstring); {} when it has none. Reads
    the header only."""
    with open(path, "rb") as f:
        header, _ = _read_header(f, path)
    return _typed(header.get("__metadata__") or {})


class _ResNet(nn.Module):
    """torchvision's ResNet network (its submodules, names and forward) at any base width, input channel count and
    stem, in the dimensions of the subclass's layer types; fc is an Identity, so the output is the pooled features h.
    Stems: "cifar" conv k3 stride 1; "imagenet" conv k7 stride 2 pad 3, then max-pool k3 stride 2 pad 1."""
    _LAYERS = _CONV = _BN = _MAXPOOL = _AVGPOOL = None  # the subclass's blocks and layer types

    def __init__(self, depth, width, in_channels, stem):
        super().__init__()
        if depth not in self._LAYERS:
            raise ValueError("depth %r: dystress trains ResNet-18 and ResNet-50" % (depth,))
        if stem not in ("cifar", "imagenet"):
            raise ValueError("stem %r: cifar or imagenet" % (stem,))
        block, counts = self._LAYERS[depth]
        self.inplanes = width
        k, stride, pad = (3, 1, 1) if stem == "cifar" else (7, 2, 3)
        self.conv1 = self._CONV(in_channels, width, kernel_size=k, stride=stride, padding=pad, bias=False)
        self.bn1 = self._BN(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if stem == "cifar" else self._MAXPOOL(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, counts[0], 1)
        self.layer2 = self._make_layer(block, width * 2, counts[1], 2)
        self.layer3 = self._make_layer(block, width * 4, counts[2], 2)
        self.layer4 = self._make_layer(block, width * 8, counts[3], 2)
        self.avgpool = self._AVGPOOL(1)
        self.fc = nn.Identity()
        self.feature_dim = width * 8 * block.expansion

    def _make_layer(self, block, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                self._CONV(self.inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                self._BN(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ResNetEncoder(_ResNet):
    """The image encoder: torchvision's ResNet with torchvision's blocks, images [N, in_channels, H, W]."""
    _LAYERS = _LAYERS
    _CONV, _BN, _MAXPOOL, _AVGPOOL = nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d

    def __init__(self, depth=18, width=64, in_channels=3, stem="cifar"):
        super().__init__(depth, width, in_channels, stem)


def build_resnet(depth=18, width=64, in_channels=3, stem="cifar"):
    """An untrained ResNetEncoder: build_resnet(18, 64, 3, "imagenet") has torchvision's resnet18() state-dict keys
    and shapes, less fc."""
    return ResNetEncoder(depth, width, in_channels, stem)


class _BasicBlock1d(nn.Module):
    """torchvision's BasicBlock in one dimension: conv k3 - BN - ReLU - conv k3 - BN, plus the shortcut, ReLU."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv1d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm1d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv1d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class _Bottleneck1d(nn.Module):
    """torchvision's Bottleneck ("v1.5": the stride on the k3 conv) in one dimension."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv1d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm1d(planes)
        self.conv2 = nn.Conv1d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(planes)
        self.conv3 = nn.Conv1d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm1d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


_LAYERS_1D = {18: (_BasicBlock1d, [2, 2, 2, 2]), 50: (_Bottleneck1d, [3, 4, 6, 3])}


class ResNet1d(_ResNet):
    """dystress's 1-D ResNet (model dims 1) for signals [N, in_channels, T]: ResNetEncoder's network and module names
    with every k x k window made k long; the output is the features h after the global average pool over T."""
    _LAYERS = _LAYERS_1D
    _CONV, _BN, _MAXPOOL, _AVGPOOL = nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AdaptiveAvgPool1d

    def __init__(self, depth=18, width=64, in_channels=1, stem="cifar"):
        super().__init__(depth, width, in_channels, stem)


def build_resnet1d(depth=18, width=64, in_channels=1, stem="cifar"):
    """An untrained ResNet1d, the module of a 1-D encoder's file (metadata dystress.dims "1")."""
    return ResNet1d(depth, width, in_channels, stem)


def _arch_from_tensors(tensors, path):
    conv1 = tensors.get("conv1.weight")
    if conv1 is None or conv1.dim() not in (3, 4):
        raise ValueError("%s has no 4-D (image) or 3-D (signal) conv1.weight: not a ResNet encoder" % path)
    depth = 50 if "layer1.0.conv3.weight" in tensors else 18
    width, in_channels, k = conv1.shape[0], conv1.shape[1], conv1.shape[2]
    arch = {"depth": depth, "width": int(width), "in_channels": int(in_channels),
            "stem": "cifar" if k == 3 else "imagenet", "feature_dim": int(width) * (32 if depth == 50 else 8)}
    if conv1.dim() == 3:
        arch["dims"] = 1  # nn.Conv1d's [out, in, k]: a 1-D encoder (image encoders' meta has no "dims", as before)
    return arch


def load_encoder(path):
    """(model, meta): the encoder of a safetensors file written by `dystress export` (or a pretrain checkpoint), built
    to the file's architecture (ResNetEncoder, or ResNet1d for a 1-D encoder), its weights loaded strictly, in eval
    mode; meta the typed metadata (depth, width, in_channels, stem, feature_dim, image_size, mean, std; the last
    three None when the file does not record them; dims 1 for a 1-D encoder)."""
    tensors, metadata = read_safetensors(path)
    meta = {"image_size": None, "mean": None, "std": None}
    meta.update(_arch_from_tensors(tensors, path))
    meta.update(_typed(metadata))
    build = build_resnet1d if meta.get("dims") == 1 else build_resnet
    model = build(meta["depth"], meta["width"], meta["in_channels"], meta["stem"])
    # a checkpoint also holds the head, the optimizer's state and the trainer's counters: the encoder's tensors only
    state = {k: v for k, v in tensors.items() if not _other_part(k)}
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, meta


def _other_part(name):
    """A tensor that is not the encoder's: the projection head (export --with-head), or a training checkpoint's
    optimizer state, MoCo key encoder and queue, trainer state."""
    return name.split(".", 1)[0] in ("head", "optimizer", "key_encoder", "moco", "trainer", "tau_adapt")
