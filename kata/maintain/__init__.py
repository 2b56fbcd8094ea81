"""What keeps the kata honest, for its maintainers: the proof behind `nox -s check` (`prove`,
`mutants`, `drift`, `conventions`, `checklist`), notebook generation, benchmarks and the student
edition (`release`). May import every other room; nothing imports it."""

from __future__ import annotations
