"""Sites and a rule under DistributedDataParallel: two gloo ranks end with equal masks."""

from __future__ import annotations

import sys
from pathlib import Path

import torch.multiprocessing as mp

HERE = Path(__file__).resolve().parent


def test_masks_stay_equal_across_ranks(tmp_path, monkeypatch):
    # the spawned ranks import the worker's module by name: put its folder on their path
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    sys.modules.pop("_ddp_run", None)
    import _ddp_run

    mp.spawn(_ddp_run.worker, args=(2, str(tmp_path), str(tmp_path / "init")), nprocs=2)
    rank0 = (tmp_path / "rank0.txt").read_text().splitlines()
    rank1 = (tmp_path / "rank1.txt").read_text().splitlines()
    assert rank0 == rank1
    assert int(rank0[0].split()[1]) > 0  # the masks really changed during the run
    names = [line.split()[0] for line in rank0[1:]]
    assert names == ["module.0.weight", "module.3.weight"]
    assert [int(line.split()[1]) for line in rank0[1:]] == [round(0.2 * 48), round(0.2 * 384)]
