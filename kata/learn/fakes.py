"""Stand-ins the topic tests use to walk the unhappy path of a wrapper ("restores" holds on every way out)."""

from __future__ import annotations


class Boom(Exception):
    """The error a test makes the wrapped call raise: not a RuntimeError, so no stub's
    NotImplementedError is taken for it."""


class FailingLoader:
    """A loader of len(batches) batches that yields the first `fail_after`, then raises Boom."""

    def __init__(self, batches, fail_after: int):
        self.batches, self.fail_after = batches, fail_after

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        yield from self.batches[: self.fail_after]
        raise Boom("the loader failed in the middle of the pass")
