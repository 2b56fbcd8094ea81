"""The kata's own machinery: the curriculum manifest, the implementation loader, the teaching
assertions the tests use, the pytest plugin, and the tools behind the nox sessions."""

from __future__ import annotations
