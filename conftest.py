"""Test-session set-up shared by tests/ and the doctests in wiring/ and analysis/."""

import os

# One BLAS/OpenMP thread per test process: the suite is many small ops, and OpenMP threads that
# spin-wait on a shared 2-core machine slow such ops down by orders of magnitude.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
