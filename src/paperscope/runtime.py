"""Process-wide setup, done once at the start of every paperscope process: the command line
(`cli/__init__.py`) and the ASGI factory (`web/asgi.py`) both call `configure_process` before anything
imports numpy. It imports nothing itself, so it can run first.

What is deliberately *not* here: `sys.setswitchinterval`. The digest runner used to lower it to 0.5 ms
for the whole process during a cycle (for a web server's request threads too, when its scheduler ran
there), so that SMTP sender threads would not wait on the composing thread for the GIL. Measured with
`benchmarks/digests.py` (both versions alternately, 3 rounds each at 5,000 and at 10,000 subscribers,
on a shared 2-core machine): 263-398 messages/s with it, 291-392 without, medians 375 and 374; the
interpreter's default (5 ms) stays.
"""

from __future__ import annotations

import os

# Multi-threaded OpenBLAS spin-waits on the small matrix products of query encoding (FDE, MaxSim): on a
# busy 2-core machine one query took 128 ms instead of 3 ms. OpenBLAS reads this once, when numpy is
# first imported; a value the operator set is kept.
BLAS_THREADS = {"OPENBLAS_NUM_THREADS": "1"}


def configure_process() -> None:
    """Settings that apply to the whole process; call before numpy is first imported."""
    for name, value in BLAS_THREADS.items():
        os.environ.setdefault(name, value)
