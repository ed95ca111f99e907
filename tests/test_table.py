"""The stability table's arithmetic (mean ± standard error per cell) and its report of a
table still being filled, from summaries written by hand."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_summary(workdir, name, modes, hq, reverse_kl):
  os.makedirs(workdir / name)
  summary = {"modes": modes, "hq_fraction": hq, "reverse_kl": reverse_kl,
             "train_seconds": 100.0,
             "config": {"num_steps": 20000, "batch_size": 512, "d_steps": 1}}
  (workdir / name / "summary.json").write_text(json.dumps(summary))


def test_report_only_tabulates_finished_runs_and_names_the_missing(tmp_path):
  runs = tmp_path / "runs"
  write_summary(runs, "ring8_hinge_none_s0", 8, 0.97, 0.01)
  write_summary(runs, "ring8_hinge_none_s1", 7, 0.95, 0.03)
  write_summary(runs, "ring8_hinge_gp_s1", 6, 0.80, 0.25)
  write_summary(runs, "ring8_hinge_r1_s0", 0, 0.0, None)  # collapsed: no HQ sample
  write_summary(runs, "ring8_hinge_r1_s1", 8, 0.90, 0.05)
  out = tmp_path / "table.md"
  proc = subprocess.run(
      [sys.executable, "-m", "studies.table", "--report_only", f"--workdir={runs}",
       "--datasets=ring8", "--losses=hinge", "--variants=none,gp,r1,sn", "--seeds=2",
       f"--out={out}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = out.read_text().splitlines()
  # Seeds 8, 7 -> 7.5 ± stdev/sqrt(2) = 0.5; HQ 97, 95 -> 96.0 ± 1.0; KL 0.02 ± 0.01.
  assert "| hinge | none | 7.5 ± 0.5 | 96.0 ± 1.0 | 0.020 ± 0.010 |" in lines
  assert "| hinge | gp | 6.0 (1 of 2 seeds) | 80.0 | 0.250 |" in lines
  # Reverse KL is undefined without HQ samples: averaged over the other run, and said so.
  assert "| hinge | r1 | 4.0 ± 4.0 | 45.0 ± 45.0 | 0.050 (1 run without HQ samples) |" in lines
  assert "| hinge | sn | not run | not run | not run |" in lines
  assert any(l.startswith("5 of the table's 8 runs are in") for l in lines)
  assert not any(name.startswith("ring8_hinge_sn") for name in os.listdir(runs))  # none started
