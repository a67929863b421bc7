"""Entry point of the DDP test: two gloo ranks train a sparsified model with RigL.

Run by test_ddp.py (``torch.multiprocessing.spawn(worker, ...)``) or as ``python _ddp_run.py OUT_DIR``. Each rank sees different data, so only the gradient
averaging of DistributedDataParallel and of the rule keeps the ranks' masks equal. Each rank writes
``OUT_DIR/rank<r>.txt`` with one line per site: name, count of real weights, SHA-256 of the mask.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path


def worker(rank: int, world: int, out: str, init_file: str) -> None:
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    import wiring
    from wiring.evolve import RigL, reset_optimizer_state

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.manual_seed(0)  # the same initial model on both ranks
    model = nn.Sequential(
        nn.Conv1d(2, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 12, 4)
    )
    wiring.sparsify(model, 0.2, seed=0)
    ddp = DistributedDataParallel(model)
    rule = RigL(drop_fraction=0.5, every=2, until=1.0, total_steps=12)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    data = torch.Generator().manual_seed(100 + rank)  # different data per rank
    changed = 0
    for step in range(12):
        x, y = torch.randn(16, 2, 12, generator=data), torch.randint(0, 4, (16,), generator=data)
        optimizer.zero_grad()
        F.cross_entropy(ddp(x), y).backward()
        if rule.step(ddp, step):
            changed += 1
            reset_optimizer_state(optimizer, ddp)
        optimizer.step()
    lines = [f"changed {changed}"]
    for site in wiring.sites(ddp):
        digest = hashlib.sha256(site.mask.cpu().numpy().tobytes()).hexdigest()
        lines.append(f"{site.name} {site.num_real} {digest}")
    Path(out, f"rank{rank}.txt").write_text("\n".join(lines) + "\n")
    dist.destroy_process_group()


if __name__ == "__main__":
    import torch.multiprocessing as mp

    out_dir = sys.argv[1]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(worker, args=(2, out_dir, str(Path(out_dir, "init"))), nprocs=2, join=True)
