"""What an instructor runs: grading a class (`grade`, `jobs`, `verdict`, `reports`, `stats`,
`live`), the pytest plugin inside a grading job (`grading_plugin`), the OS sandbox and the limits
a job runs under (`sandbox`, `limits`), an instructor's hidden tests (`hidden`), the Gradescope
bundle (`gradescope`) and the PrairieLearn course fragment (`prairielearn`). May import
`kata.learn` and `kata.core`."""

from __future__ import annotations
