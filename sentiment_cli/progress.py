"""Progress of long steps on stderr: a tqdm bar on a terminal, one plain line when a step ends.

Into a file or a pipe, a bar's carriage returns make one unreadable line, so there the bar is
off and only the closing line ("tokenizing: 25,000 texts in 3.1 s") is written.
"""

from __future__ import annotations

import contextlib
import sys
import time

from tqdm import tqdm


class Step:
    """Counts what a step has done, and moves its bar when there is one."""

    def __init__(self, bar: tqdm):
        self.bar = bar
        self.done = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        self.bar.update(n)


@contextlib.contextmanager
def step(desc: str, total: int | None = None, unit: str = "rows", enabled: bool = True):
    """A long step: yields a ``Step`` to ``update``; says how it went when it ends without an error."""
    start = time.perf_counter()
    bar = tqdm(total=total, desc=desc, unit=f" {unit}", unit_scale=True, file=sys.stderr, leave=False,
               disable=not enabled or not sys.stderr.isatty(), mininterval=0.5, dynamic_ncols=True)
    counter = Step(bar)
    try:
        yield counter
    finally:
        bar.close()
    if enabled:
        print(f"{desc}: {counter.done:,} {unit} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
