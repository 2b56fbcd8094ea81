"""The kata's machinery, in four rooms named for whom they serve. Imports run one way only,
maintain -> grading -> learn -> core (`nox -s check` refuses a back-import):

- `kata.core`: what every room stands on (the manifest, the worker process and its protocol, the
  thread policy);
- `kata.learn`: what a learner runs and sees (the pytest plugin, the teaching checks, hints,
  progress, the watch, reset, notebooks);
- `kata.grading`: what an instructor runs (grading a class, the sandbox, reports, Gradescope);
- `kata.maintain`: what keeps the kata honest (the proof, mutants, drift, conventions, the topic
  checklist, benchmarks, the student edition).

`kata/curriculum.toml`, the manifest, stays at the top: every room reads it.
"""

from __future__ import annotations
