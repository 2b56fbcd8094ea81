"""What every room stands on: the curriculum manifest and the learner's state folder (`manifest`),
the worker that imports torch once and forks a child per job (`zygote`) with its line protocol
(`protocol`), and the torch thread policy (`threads`). Used by all; imports nothing of kata's
outside `kata.core`."""

from __future__ import annotations
