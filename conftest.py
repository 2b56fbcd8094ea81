"""Loads the kata's pytest plugin: see kata/learn/plugin.py for the options and the progress summary."""

from __future__ import annotations

pytest_plugins = ["kata.learn.plugin"]
