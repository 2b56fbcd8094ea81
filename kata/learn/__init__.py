"""What a learner runs and sees: the pytest plugin and its `impl` fixture (`plugin`, `impl`), the
teaching assertions the tests use (`checks`, `fakes`), the wording of any other failure (`explain`),
hints, progress, the watch, reset, notebooks, the demos' data, and the self-paced edition's
`solution`. May import `kata.core` only."""

from __future__ import annotations
