"""Shared plumbing of the experiment scripts: a process pool of one-thread workers, one JSON per run.

Every run is a task (a dict of plain values) with a unique ``name``; its result is written to
``<out>/<name>.json`` atomically when the run finishes, so an interrupted grid continues where it
stopped (finished runs are skipped) and the tables are always regenerated from the stored files.
Workers are started with ``spawn`` (CUDA-safe) and run one thread each (``OMP_NUM_THREADS=1``,
``torch.set_num_threads(1)``), so ``--jobs N`` uses N cores.

Needs only the standard library here; the scripts add the repository root to ``sys.path`` so that
``wiring`` is importable without installing the package.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _one_thread() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    if ROOT.as_posix() not in sys.path:
        sys.path.insert(0, ROOT.as_posix())


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON atomically (temporary file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def load_results(out: Path) -> list[dict[str, Any]]:
    """Every stored run result under ``out`` (``*.json``, sorted by name)."""
    if not out.is_dir():
        return []
    rows = []
    for p in sorted(out.glob("*.json")):
        try:
            rows.append(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            continue
    return rows


def run_grid(
    tasks: Iterable[dict[str, Any]],
    fn: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    out: Path,
    jobs: int,
) -> None:
    """Run ``fn(task)`` for every task without a stored result, ``jobs`` at a time; store each."""
    todo = [t for t in tasks if not (out / f"{t['name']}.json").exists()]
    if not todo:
        print("all runs already stored", flush=True)
        return
    out.mkdir(parents=True, exist_ok=True)
    print(f"{len(todo)} runs to do, {jobs} at a time", flush=True)
    start = time.perf_counter()

    def report(i: int, task: dict[str, Any], row: dict[str, Any]) -> None:
        write_json(out / f"{task['name']}.json", row)
        acc = row.get("test_accuracy")
        acc_s = f"{acc:.3f}" if isinstance(acc, float) else "-"
        print(
            f"[{i}/{len(todo)} {(time.perf_counter() - start) / 60:6.1f} min] {task['name']}: "
            f"{acc_s} ({row.get('seconds', 0):.0f} s)",
            flush=True,
        )

    if jobs <= 1:
        _one_thread()
        for i, task in enumerate(todo, 1):
            report(i, task, fn(task))
        return
    import multiprocessing as mp

    os.environ["OMP_NUM_THREADS"] = "1"
    with ProcessPoolExecutor(
        jobs, mp_context=mp.get_context("spawn"), initializer=_one_thread
    ) as ex:
        futures = {ex.submit(fn, task): task for task in todo}
        for i, fut in enumerate(as_completed(futures), 1):
            task = futures[fut]
            try:
                row = fut.result()
            except Exception as exc:  # keep the grid going; the run is retried next time
                print(f"run {task['name']} failed: {exc!r}", flush=True)
                continue
            report(i, task, row)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    import statistics

    m = statistics.fmean(values)
    return m, (statistics.stdev(values) if len(values) > 1 else 0.0)


def paired_tests(a: list[float], b: list[float]) -> dict[str, float]:
    """Paired t-test and Wilcoxon signed-rank test of ``a - b`` (two-sided p-values, scipy).

    With 5 pairs the exact Wilcoxon test cannot give p below 0.0625: it is reported, but the
    t-test is the one that can reach 5 %.
    """
    from scipy import stats

    diffs = [x - y for x, y in zip(a, b, strict=True)]
    res: dict[str, float] = {"n": len(diffs)}
    if len(diffs) >= 2 and any(d != diffs[0] for d in diffs):
        res["t_p"] = float(stats.ttest_rel(a, b).pvalue)
    if len(diffs) >= 2 and any(d != 0 for d in diffs):
        res["wilcoxon_p"] = float(stats.wilcoxon(a, b).pvalue)
    return res
