"""Small PyTorch modules in the manner of real ones, one per mapped op family, for the ONNX
importer's tests (each checked against ONNX Runtime) and the conformance matrix.

Import only where torch is installed (``pytest.importorskip("torch")`` first).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _seed_model():
    """The seed's SimpleCNN, from the sample that ships it (one definition)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "samples" / "simple_cnn_torch.py"
    spec = importlib.util.spec_from_file_location("edgekit_sample_simple_cnn_torch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SimpleCNN


SimpleCNN = _seed_model()


class InvertedResidual(nn.Module):
    """MobileNetV2's block: expand 1x1, depthwise 3x3, project 1x1, residual add."""

    def __init__(self, channels: int, expand: int = 4, stride: int = 1):
        super().__init__()
        hidden = channels * expand
        self.residual = stride == 1
        self.block = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels),
        )  # fmt: skip

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetish(nn.Module):
    """A MobileNetV2-style net: strided stem, inverted residuals, global pool, classifier."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.blocks = nn.Sequential(InvertedResidual(16), InvertedResidual(16, stride=2), InvertedResidual(16))
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class TwoHeads(nn.Module):
    """A detector-like net with two outputs: class scores and a box regression map."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.cls = nn.Conv2d(8, 4, 1)
        self.box = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x):
        features = self.body(x)
        return self.cls(features).flatten(1).softmax(-1), self.box(features)


class FullyConvolutional(nn.Module):
    """Any input size: convolutions and a global pool only (dynamic spatial dimensions)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 6, 3, stride=2, padding=1))

    def forward(self, x):
        return self.features(x).mean(dim=(2, 3))


class SqueezeExcite(nn.Module):
    """MobileNetV3's squeeze-and-excitation with hard swish and hard sigmoid."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.reduce, self.expand = nn.Conv2d(channels, 4, 1), nn.Conv2d(4, channels, 1)

    def forward(self, x):
        x = F.hardswish(self.conv(x))
        scale = F.hardsigmoid(self.expand(F.relu(self.reduce(F.adaptive_avg_pool2d(x, 1)))))
        return (x * scale).flatten(1)


class Audio1D(nn.Module):
    """A keyword-spotting-like 1-D convolution over (N, channels, time)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(10, 16, 5, padding=2), nn.BatchNorm1d(16), nn.ReLU(), nn.Conv1d(16, 16, 3, groups=16, padding=1), nn.ReLU())
        self.out = nn.Linear(16, 6)

    def forward(self, x):
        return self.out(self.conv(x).mean(-1))


class Decoder(nn.Module):
    """An upsampling decoder: transposed conv, bilinear and nearest resize, concat, padding."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1)
        self.norm = nn.BatchNorm2d(8)  # after the activation: not folded into the convolution
        self.mix = nn.Conv2d(16, 4, 3)

    def forward(self, x):
        small = self.norm(F.relu(self.down(x)))
        up = self.up(small)
        nearest = F.interpolate(small, scale_factor=2, mode="nearest")
        bilinear = F.interpolate(small, scale_factor=2, mode="bilinear", align_corners=False)
        joined = torch.cat([up + bilinear, nearest], dim=1)
        return self.mix(F.pad(joined, (1, 1, 1, 1)))


class Activations(nn.Module):
    """The activations PyTorch models use, each on its own slice of channels."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, padding=1)
        self.prelu = nn.PReLU(2)

    def forward(self, x):
        x = self.conv(x)
        parts = torch.split(x, 2, dim=1)
        mixed = [F.leaky_relu(parts[0], 0.1), self.prelu(parts[1]), torch.sigmoid(parts[2]), torch.tanh(parts[3]), F.elu(parts[4]), torch.clamp(parts[5], -1.0, 2.0)]
        y = torch.cat(mixed, dim=1)
        return F.avg_pool2d(y, 3, stride=1, padding=1, count_include_pad=True) * 0.5 - 1.0, y[:, 2:5, 1:, ::2]


class Arithmetic(nn.Module):
    """Element-wise arithmetic with constants and tensors, a transpose and a 3-D linear layer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.scale = nn.Parameter(torch.linspace(0.5, 2.0, 4).view(1, 4, 1, 1))
        self.linear = nn.Linear(4, 3)

    def forward(self, x):
        y = self.conv(x)
        y = (y * self.scale + 1.0) / 2.0 - y * y
        seq = y.flatten(2).transpose(1, 2)  # (N, H*W, C)
        return self.linear(seq).softmax(-1)


def all_cases() -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    """name -> (module in eval mode, input shape with the batch)."""
    torch.manual_seed(0)
    cases = {
        "simple_cnn": (SimpleCNN(), (1, 3, 32, 32)),
        "mobilenetish": (MobileNetish(), (1, 3, 32, 32)),
        "two_heads": (TwoHeads(), (1, 3, 16, 16)),
        "fully_convolutional": (FullyConvolutional(), (1, 3, 20, 20)),
        "squeeze_excite": (SqueezeExcite(), (1, 3, 8, 8)),
        "audio_1d": (Audio1D(), (1, 10, 40)),
        "decoder": (Decoder(), (1, 3, 16, 16)),
        "activations": (Activations(), (1, 3, 8, 8)),
        "arithmetic": (Arithmetic(), (1, 3, 6, 6)),
    }
    for module, _ in cases.values():
        for layer in module.modules():
            if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):  # non-trivial statistics
                layer.running_mean.uniform_(-0.5, 0.5)
                layer.running_var.uniform_(0.5, 2.0)
        module.eval()
    return cases
