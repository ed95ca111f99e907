r"""Where a compiled step spends its time, by XLA operation (`benchmarks.bench --profile`).

`profile(contestant, steps)` traces `steps` calls of a `timing.jaxgan_contestant` with
`jax.profiler`, adds up the time of each XLA operation the trace records, and returns
Markdown, per step:
- a summary by kind: convolutions and matmuls run by the backend's kernel library (on CPU,
  XLA's YNNPACK fusions), convolutions XLA computes with its own loops (those with input
  dilation: strided convolutions' input gradients), layout copies, and everything else
  (the optimizers, activations, reductions);
- the slowest operations, each with the convolution or dot it computes (from the compiled
  HLO), so a reader can tell which layer and which pass it is.
Operations are the compiled module's instructions that the trace times (XLA:CPU records one
event per thunk); the runtime's other events are left out.
"""

import collections
import glob
import gzip
import json
import re
import tempfile

import jax


def instructions(hlo: str) -> dict[str, str]:
  """Returns {instruction name: the rest of its line} of a compiled HLO module's text."""
  return dict(re.findall(r"\n\s*(?:ROOT )?%([\w.\-]+) = ([^\n]*)", hlo))


def kind(name: str, line: str) -> str:
  """Returns the kind of work of HLO instruction `name`, from its name and line."""
  if " fusion(" in line and "kind=kCustom" in line:
    return "conv/matmul in the kernel library"
  if " convolution(" in line:
    return "conv in XLA's own runtime"
  if " dot(" in line:
    return "matmul in XLA's own runtime"
  if "transpose" in name or name.startswith("copy") or " copy(" in line:
    return "layout copies (transposes)"
  return "other (optimizer, activations, reductions)"


def op_times(trace_dir: str, steps: int, names) -> dict[str, float]:
  """Returns {op name: ms per step} of the trace in `trace_dir`, for the ops in `names`
  (the trace also records the runtime's own events, which are not operations)."""
  path = glob.glob(f"{trace_dir}/**/perfetto_trace.json.gz", recursive=True)[-1]
  with gzip.open(path) as f:
    trace = json.load(f)
  events = trace["traceEvents"] if isinstance(trace, dict) else trace
  times = collections.defaultdict(float)
  for event in events:
    if event.get("ph") == "X" and event["name"] in names:
      times[event["name"]] += event.get("dur", 0) / 1e3 / steps
  return dict(times)


def what_it_computes(hlo: str, name: str) -> str:
  """Returns the shape and window of the convolution or dot inside op `name`, if any."""
  line = re.search(r"\n\s*(?:ROOT )?%" + re.escape(name) + r" = ([^\n]*)", hlo)
  if not line:
    return ""
  text = line.group(1)
  if called := re.search(r"calls=%([\w.\-]+)", text):
    body = re.search(r"\n%" + re.escape(called.group(1)) + r" [^{]*\{(.*?)\n\}", hlo, re.S)
    text = body.group(1) if body else text
  op = re.search(r"(f32|bf16|f16)\[[\d,]*\][^ ]* (convolution|dot)\(([^)]*)\)([^\n]*)", text)
  if not op:
    return ""
  window = re.search(r"window=\{([^}]*)\}", op.group(4))
  return f"{op.group(2)} -> {op.group(0).split(' ')[0]}" + (
      f", window {window.group(1)}" if window else "")


def profile(contestant: dict, steps: int, top: int = 15) -> str:
  """Traces `steps` calls of `contestant["run"]` (warmed up already); returns Markdown."""
  trace_dir = tempfile.mkdtemp(prefix="jaxgan-profile-")
  jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
  contestant["run"](steps)
  jax.profiler.stop_trace()
  hlo = contestant["compiled"].as_text()
  lines_of = instructions(hlo)
  times = op_times(trace_dir, steps, lines_of)
  total = sum(times.values())
  by_kind = collections.defaultdict(float)
  for name, ms in times.items():
    by_kind[kind(name, lines_of[name])] += ms
  lines = [f"Where the jaxgan step's time goes: {total:.1f} ms of XLA operations per step "
           f"({steps} steps traced, {len(times)} operations). Each time is an operation's "
           "wall time; the runtime runs independent operations at once, so on several "
           "cores they can add up to more than the step's time.", "",
           "| kind | ms per step | share |", "|---|---|---|"]
  lines += [f"| {name} | {ms:.1f} | {ms / total:.0%} |"
            for name, ms in sorted(by_kind.items(), key=lambda kv: -kv[1])]
  lines += ["", f"The {top} slowest operations:", "",
            "| operation | ms per step | computes |", "|---|---|---|"]
  lines += [f"| {name} | {ms:.1f} | {what_it_computes(hlo, name)} |"
            for name, ms in sorted(times.items(), key=lambda kv: -kv[1])[:top]]
  return "\n".join(lines)
