"""Pitfall: the features flattened with .view(N, -1), which fails on channels_last feature maps (cnn.SmallCNN)."""

from __future__ import annotations

from solutions import cnn as reference
from solutions.cnn import *  # noqa: F403


class SmallCNN(reference.SmallCNN):
    def forward(self, x):
        h = self.features(x)
        return self.classifier(h.view(h.shape[0], -1))
