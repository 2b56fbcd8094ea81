"""Grading canaries: every test here must FAIL. Copied into each grading sandbox and run after
the submission's topic tests; one that passes means an assertion helper was disarmed."""

from __future__ import annotations

import pytest
import torch

from kata.learn import checks

pytestmark = pytest.mark.canary


def test_canary_expect_close_rejects_different_values():
    checks.expect_close(torch.zeros(3), torch.ones(3), what="canary", rtol=0.0, atol=0.0)


def test_canary_expect_rejects_false():
    checks.expect(False, "canary")


def test_canary_assert_close_rejects_different_values():
    torch.testing.assert_close(torch.zeros(3), torch.ones(3))


def test_canary_plain_assert_still_fails():
    assert torch.equal(torch.zeros(3), torch.ones(3))


def test_canary_allclose_still_tells_apart():
    assert torch.allclose(torch.zeros(3), torch.ones(3))
