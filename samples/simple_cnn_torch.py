"""The seed's SimpleCNN in PyTorch: the model this project started from (input 1x3x32x32).

conv 16 -> max-pool -> conv 32 -> max-pool -> linear 128 -> linear 10 (logits). A recipe uses
it as ``factory = "simple_cnn_torch.py:build"`` with ``input_shape = [3, 32, 32]``;
``train_simple_cnn_torch.py`` trains it in PyTorch and exports it for
``simple_cnn_torch.toml``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn


class SimpleCNN(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 8 * 8, 128)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        x = x.view(-1, 32 * 8 * 8)
        return self.fc2(F.relu(self.fc1(x)))


def build(num_classes: int = 10) -> SimpleCNN:
    """An untrained SimpleCNN (a recipe factory; edgekit exports and imports it)."""
    return SimpleCNN(num_classes)
