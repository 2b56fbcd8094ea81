"""Harness tests keep the learner's state (.kata/) out of the repository: each session gets its own."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_state_dir(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("KATA_STATE_DIR", str(tmp_path_factory.mktemp("kata-state")))
    yield
    mp.undo()
