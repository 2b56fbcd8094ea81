"""Pitfall: the ReLUs forgotten, so the network is a linear classifier in disguise (cnn.SmallCNN).

With average pooling, the whole network is one affine map.
"""

from __future__ import annotations

from torch import nn

from solutions.cnn import *  # noqa: F403


class SmallCNN(nn.Module):
    def __init__(self, in_channels=1, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 24, 3, padding=1), nn.BatchNorm2d(24), nn.AvgPool2d(2),
            nn.Conv2d(24, 48, 3, padding=1), nn.BatchNorm2d(48), nn.AvgPool2d(2),
            nn.AdaptiveAvgPool2d((2, 2)),
        )
        self.classifier = nn.Linear(48 * 2 * 2, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))
