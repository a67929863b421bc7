"""wiring.analysis is torch-free: importing it, and running its measures, never imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def test_import_and_summary_do_not_import_torch(tmp_path) -> None:
    code = textwrap.dedent(
        f"""
        import json, sys
        import networkx as nx
        import wiring.analysis as wa
        from wiring import generators

        g = generators.random_k(generators.complete_dag([4, 8, 4], seed=0), 30, seed=1)
        wa.summary(g)
        wa.summary(nx.path_graph(5))
        wa.graph_info(g)
        wa.heat_signature(g, [0.1, 1.0])
        wa.scree(g, 1.0, 0.25)
        wa.analyze(g, reference=g, out={str(tmp_path)!r}, progress=False)
        print(json.dumps(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
