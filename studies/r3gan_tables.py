"""The tables of the R3GAN experiments from their finished runs' records (no flags here, so
that tests and other tools import them): `studies.r3gan_ablation`'s modes, KL and
divergence per arm, and `studies.r3gan_vs_dcgan`'s domain metrics per model."""

import math

from studies import arms

BAR = (1000, 0.078)  # the paper's RpGAN + R1 + R2 on Stacked MNIST: modes, KL
FD = "eval/fd_fashion_mnist_classifier"


def ablation_summary(root: str, arm: str, seed: str) -> dict | None:
  """Returns a finished run's last and best counts, KL, divergence and time, else None."""
  folder = arms.workdir(root, arm, seed)
  rows = arms.records(folder)
  evaluations = [r for r in rows if "eval/stacked_modes" in r]
  if arms.stopped_nonfinite(folder):  # the runner stopped it: no summary, no last count
    last = evaluations[-1] if evaluations else {}
    return {"step": last.get("step"), "modes": None, "kl": None, "kl_channels": None,
            "best": max((r["eval/stacked_modes"] for r in evaluations), default=None),
            "diverged": "NaN (stopped)", "seconds": None}
  if not arms.finished(folder):
    return None
  if not evaluations:
    raise ValueError(f"{folder} finished without a stacked-modes evaluation: the domain "
                     f"classifier was unavailable (its log says why)")
  last = evaluations[-1]
  best = max(r["eval/stacked_modes"] for r in evaluations)
  losses = [v for r in rows for k, v in r.items() if k in ("d/loss", "g/loss")]
  nan = any(isinstance(v, float) and not math.isfinite(v) for v in losses)
  collapsed = last["eval/stacked_modes"] < best / 2
  return {"step": last["step"], "modes": last["eval/stacked_modes"],
          "kl": last["eval/stacked_kl"], "best": best,
          # the part of the KL from each channel's class frequencies (records since 2026-12-02)
          "kl_channels": last.get("eval/stacked_kl_channels"),
          "diverged": "NaN" if nan else ("modes collapsed" if collapsed else "no"),
          "seconds": arms.logged_seconds(folder)}


def cleared(run: dict) -> bool:
  return run["modes"] is not None and run["modes"] >= BAR[0] and run["kl"] <= BAR[1]


def _shown(value, spec: str = "") -> str:
  return "–" if value is None else format(value, spec)


def ablation_table(root: str, arm_names: list[str], seeds: list[str]) -> str:
  lines = ["| arm | seed | step | modes | KL | KL of the channels' marginals | most modes seen "
           "| diverged | logged s |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  means = ["| arm | seeds done | modes | KL | diverged | at the bar (1000, KL <= 0.078) |",
           "| --- | --- | --- | --- | --- | --- |"]
  for arm in arm_names:
    done = []
    for seed in seeds:
      run = ablation_summary(root, arm, seed)
      if run is None:
        continue
      done.append(run)
      lines.append(f"| {arm} | {seed} | {_shown(run['step'])} | {_shown(run['modes'])} | "
                   f"{_shown(run['kl'], '.3f')} | {_shown(run['kl_channels'], '.3f')} | "
                   f"{_shown(run['best'])} | {run['diverged']} | "
                   f"{_shown(run['seconds'], '.0f')} |")
    diverged = sum(run["diverged"] != "no" for run in done)
    counted = [r for r in done if r["modes"] is not None]  # a stopped run has no last count
    means.append(f"| {arm} | {len(done)} of {len(seeds)} | "
                 f"{arms.cell([r['modes'] for r in counted], 1)} | "
                 f"{arms.cell([r['kl'] for r in counted], 3)} | {diverged} of {len(done)} | "
                 f"{sum(map(cleared, done))} of {len(done)} |")
  return "\n".join(lines) + "\n\n" + "\n".join(means)


def comparison_summary(root: str, model: str, seed: str) -> dict | None:
  """Returns a finished run's last evaluation and wall time, else None."""
  folder = arms.workdir(root, model, seed)
  if not arms.finished(folder):
    return None
  last = [r for r in arms.records(folder) if FD in r][-1]
  return {"step": last["step"], "fd": last[FD],
          "kid": last["eval/kid_fashion_mnist_classifier"], "class_kl": last["eval/class_kl"],
          "seconds": arms.logged_seconds(folder)}


def comparison_table(root: str, models: list[str], seeds: list[str]) -> str:
  rows = ["| model | seed | steps | FD | KID | class KL | logged s |",
          "| --- | --- | --- | --- | --- | --- | --- |"]
  means = ["| model | seeds done | FD | KID | class KL |", "| --- | --- | --- | --- | --- |"]
  for model in models:
    done = []
    for seed in seeds:
      if (run := comparison_summary(root, model, seed)) is None:
        continue
      done.append(run)
      rows.append(f"| {model} | {seed} | {run['step']} | {run['fd']:.1f} | {run['kid']:.1f} | "
                  f"{run['class_kl']:.3f} | {_shown(run['seconds'], '.0f')} |")
    column = lambda key: [run[key] for run in done]
    means.append(f"| {model} | {len(done)} of {len(seeds)} | {arms.cell(column('fd'), 1)} | "
                 f"{arms.cell(column('kid'), 1)} | {arms.cell(column('class_kl'), 3)} |")
  return "\n".join(rows) + "\n\n" + "\n".join(means)
