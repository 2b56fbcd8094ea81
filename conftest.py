"""Loads the kata's pytest plugin: see kata/plugin.py for the options and the progress summary."""

pytest_plugins = ["kata.plugin"]
