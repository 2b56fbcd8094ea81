"""What an instructor runs: grading a class (`grade`, `jobs`, `verdict`, `reports`, `stats`,
`live`), the pytest plugin inside a grading job (`grading_plugin`), the OS sandbox and the limits
a job runs under (`sandbox`, `limits`), and the Gradescope bundle (`gradescope`). May import
`kata.learn` and `kata.core`."""

from __future__ import annotations
