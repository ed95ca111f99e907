r"""jaxgan against PyTorch eager and naive JAX, in one run: `python -m benchmarks.bench`.

For each model (DCGAN-28 at batch 64 on Fashion-MNIST, the 2D MLP GAN at batch 512 on
ring8; PROTOCOLS.md sections 3 and 4) the contestants alternate A B C ... in one process:

- `jaxgan`: the runner's compiled step as `experiments.run` uses it (the default
  flagfile's settings, data on the device, EMA and the non-finite checks included, the
  state donated);
- `torch`: the same model, loss and Adam in PyTorch eager, written as the DCGAN tutorial
  does (skipped with a message when torch is not installed);
- `naive_jax`: two separately jitted updates (D, then G, which recomputes G's forward),
  fed batches and noise from host numpy each step.

With `--levers`, variants of the jaxgan step join the same alternation (fresh z instead of
the reused G forward, the state's buffers not donated, bf16 compute with f32 parameters, several
steps per compiled call), so that each lever's effect is a ratio measured beside the others.

Also measured: the step's FLOPs (XLA's cost analysis) against a large f32 matmul's FLOP/s
in the same run (model FLOPs utilisation); compile time, and the first step of a fresh
process with an empty and then a filled persistent compilation cache; the input pipeline's
images/s against what the step consumes; and a few steps under `jax.transfer_guard` to show
the loop makes no implicit host transfers. With `--profile`, the jaxgan step's time per XLA
operation (`benchmarks/profile_step.py`). Writes `bench.json` and `bench.md` to `--out_dir`.

`python -m benchmarks.bench --flagfile=F [overrides]` is `benchmarks.bench_flagfile`: a
training flagfile's step in s/kimg, images/s and MFU, say StyleGAN2 at 64 px on the CPU
(`fashion_mnist_stylegan2_ada.flags --pad_to=64`) or at 256 px on a GPU
(`ffhq256_stylegan2_ada.flags`).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags, logging

from benchmarks import profile_step, timing
from benchmarks.timing import jaxgan_contestant
from jaxgan.runner.config import Config
from jaxgan.data import images, mixtures
from jaxgan.runner.factories import players_and_optimizers

flags.DEFINE_list("models", ["dcgan28", "mlp"], "Models to measure: dcgan28, mlp.")
flags.DEFINE_list("contestants", ["jaxgan", "torch", "naive_jax"], "Contestants.")
flags.DEFINE_bool("levers", True, "Also time variants of the jaxgan step in the alternation.")
flags.DEFINE_integer("steps_per_call", 4, "Steps per compiled call of the multi-step lever.")
flags.DEFINE_bool("scan_lever", False, "Also time the multi-step call as a lax.scan (slow "
                  "for convolutions on CPU, PROTOCOLS.md section 4).")
flags.DEFINE_integer("windows", 5, "Timed windows per contestant.")
flags.DEFINE_integer("dcgan_steps", 12, "Steps per DCGAN-28 window.")
flags.DEFINE_integer("mlp_steps", 200, "Steps per MLP window.")
flags.DEFINE_integer("matmul_size", 2048, "Side of the square f32 matmul of the FLOP/s peak.")
flags.DEFINE_bool("compile_cache", True, "Measure a fresh process's first step with an empty "
                  "and a filled persistent compilation cache (two subprocesses per model).")
flags.DEFINE_bool("pipeline", True, "Measure the input pipeline against the step.")
flags.DEFINE_string("data_dir", None, "Prepared datasets (TFDS default if unset).")
flags.DEFINE_string("out_dir", "runs/bench", "Where bench.json and bench.md go.")
flags.DEFINE_string("xla_flag_sets", None, "Instead of the comparison: time the jaxgan step "
                    "of --models under each of these ';'-separated XLA_FLAGS settings ('' is "
                    "the default), in fresh processes taken in turns, --sweep_rounds times.")
flags.DEFINE_integer("sweep_rounds", 2, "Rounds of the XLA_FLAGS sweep.")
flags.DEFINE_string("torch_device", "auto", "PyTorch's device: cpu, cuda[:N], or auto (cuda "
                    "when JAX runs on a GPU and torch sees one, else cpu).")
flags.DEFINE_enum("f32_precision", "default", ["default", "tf32", "float32"],
                  "float32 matmuls and convolutions on a GPU: each library's own default "
                  "(JAX may use TF32, PyTorch uses it in convolutions only), TF32 in both, or "
                  "full float32 in both. No effect on a CPU.")
flags.DEFINE_bool("profile", False, "Also trace the jaxgan step and print its time per XLA "
                  "operation (benchmarks/profile_step.py).")
flags.DEFINE_string("first_step_of", None, "Internal: time one fresh first step of this "
                    "model, print it as JSON and exit (the compile-cache subprocesses).")
FLAGS = flags.FLAGS

LR, BETA1 = 2e-4, 0.5


def model_config(model: str) -> Config:
  """The settings each contestant shares: the default flagfile's DCGAN-28, or the MLP GAN."""
  common = dict(loss="non_saturating", num_steps=10**6, d_steps=1, reuse_fake=True, g_lr=LR,
                d_lr=LR, g_beta1=BETA1, d_beta1=BETA1)
  if model == "dcgan28":  # experiments/configs/fashion_mnist_dcgan.flags
    return Config(dataset="fashion_mnist", model="dcgan28", batch_size=64, ema_decay=0.995,
                  data_dir=FLAGS.data_dir or "", **common).validate()
  if model == "mlp":  # z 256, two hidden layers of 128, tanh
    return Config(dataset="ring8", model="mlp", batch_size=512, latent_dim=256, g_width=128,
                  d_width=128, g_depth=2, d_depth=2, activation="tanh", **common).validate()
  raise app.UsageError(f"--models: {model!r} is not accepted; choose dcgan28 or mlp")


def real_images(config: Config) -> images.ImageData:
  return images.load(config.data.dataset, data_dir=config.data.data_dir or None)


# --- jaxgan ---------------------------------------------------------------------------

# --- naive JAX ------------------------------------------------------------------------

def naive_contestant(config: Config, real_np: np.ndarray | None):
  """Two jitted updates per step, each fed from host numpy, as a first JAX port looks."""
  G, D, _, _ = players_and_optimizers(config, (2,) if real_np is None else real_np.shape[1:], 0,
                     pixels=real_np is not None)
  tx = optax.adam(LR, b1=BETA1)
  rng = np.random.default_rng(0)
  b, latent = config.run.batch_size, G.latent_dim
  mixture = mixtures.get(config.data.dataset) if config.data.is_mixture else None

  def host_batch():
    if mixture is not None:
      modes = rng.integers(0, mixture.num_modes, b)
      return mixture.means[modes] + mixture.sigma * rng.standard_normal((b, 2), np.float32)
    return real_np[rng.integers(0, len(real_np), b)].astype(np.float32) / 127.5 - 1.0

  g_vars = G.init(jax.random.key(0), jnp.zeros((b, latent)))
  d_vars = D.init(jax.random.key(1), jnp.asarray(host_batch()))
  bce = optax.sigmoid_binary_cross_entropy

  @jax.jit
  def d_update(d_params, d_opt, g_vars, x, z):
    fake, _ = G.apply(g_vars, z, mutable=["batch_stats"])

    def loss(p):
      real_logits = D.apply({"params": p}, x)
      fake_logits = D.apply({"params": p}, fake)
      return (bce(real_logits, jnp.ones_like(real_logits)).mean()
              + bce(fake_logits, jnp.zeros_like(fake_logits)).mean())

    value, grads = jax.value_and_grad(loss)(d_params)
    updates, d_opt = tx.update(grads, d_opt, d_params)
    return optax.apply_updates(d_params, updates), d_opt, value

  @jax.jit
  def g_update(g_vars, g_opt, d_params, z):
    def loss(p):
      fake, new_state = G.apply({**g_vars, "params": p}, z, mutable=["batch_stats"])
      logits = D.apply({"params": d_params}, fake)
      return bce(logits, jnp.ones_like(logits)).mean(), new_state

    (value, new_state), grads = jax.value_and_grad(loss, has_aux=True)(g_vars["params"])
    updates, g_opt = tx.update(grads, g_opt, g_vars["params"])
    return {**new_state, "params": optax.apply_updates(g_vars["params"], updates)}, g_opt, value

  box = {"g": g_vars, "d": d_vars["params"], "g_opt": tx.init(g_vars["params"]),
         "d_opt": tx.init(d_vars["params"])}

  def run(count):
    for _ in range(count):
      x, z = host_batch(), rng.standard_normal((b, latent), np.float32)
      box["d"], box["d_opt"], d_loss = d_update(box["d"], box["d_opt"], box["g"], x, z)
      box["g"], box["g_opt"], _ = g_update(box["g"], box["g_opt"], box["d"], z)
    jax.block_until_ready((box, d_loss))

  run(2)  # compile and warm up
  return {"run": run}


# --- PyTorch eager --------------------------------------------------------------------

def torch_device() -> str:
  """`--torch_device`, with auto resolved: PyTorch on the GPU when JAX is on one."""
  if FLAGS.torch_device != "auto":
    return FLAGS.torch_device
  import torch  # pylint: disable=import-outside-toplevel
  return "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"


def set_f32_precision(choice: str) -> None:
  """Applies `--f32_precision` to both libraries (before anything is compiled)."""
  if choice == "default":
    return
  jax.config.update("jax_default_matmul_precision",
                    "tensorfloat32" if choice == "tf32" else "float32")
  if torch_available() is None:
    import torch  # pylint: disable=import-outside-toplevel
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = choice == "tf32"


def torch_sync(device: str) -> None:
  """Waits for PyTorch's queued GPU work (nothing to wait for on a CPU)."""
  import torch  # pylint: disable=import-outside-toplevel
  if torch.device(device).type == "cuda":
    torch.cuda.synchronize(device)


def torch_contestant(config: Config, real_np: np.ndarray | None):
  from benchmarks import torch_gan# pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  torch.manual_seed(0)
  device = torch_device()
  if config.data.is_mixture:
    mixture = mixtures.get(config.data.dataset)
    players = config.players
    G = torch_gan.mlp(players.latent_dim, players.g_width, players.g_depth, 2)
    D = torch_gan.mlp(2, players.d_width, players.d_depth, 1)
    gan = torch_gan.TorchGAN(G, D, config.players.latent_dim,
                             torch_gan.mixture_sampler(mixture.means, mixture.sigma, device),
                             config.run.batch_size, LR, (BETA1, 0.999), device)
  else:
    gan = torch_gan.TorchGAN(torch_gan.dcgan28_generator(), torch_gan.dcgan28_discriminator(),
                             64, torch_gan.image_sampler(real_np, device=device),
                             config.run.batch_size, LR, (BETA1, 0.999), device)
  gan.run(2)  # warm-up
  return {"run": gan.run, "note": torch_gan.threads_note(device)}


def torch_available() -> str | None:
  """Returns None when torch imports, else the reason it does not."""
  try:
    import torch  # pylint: disable=import-outside-toplevel,unused-import
  except ImportError as e:
    return f"PyTorch not installed ({e}); `pip install torch` to include it"
  return None


# --- the machine's limit, compile cache, pipeline, transfer guard ----------------------

def torch_matmul_flops_per_s(n: int, windows: int) -> float:
  """Returns the median FLOP/s of PyTorch's n x n f32 matmul (its own BLAS, in the run)."""
  import torch  # pylint: disable=import-outside-toplevel
  device = torch_device()
  a = torch.randn(n, n, device=device)
  a @ a
  torch_sync(device)

  def run(c):
    for _ in range(c):
      a @ a
    torch_sync(device)

  count = max(3, int(2e10 / (2 * n ** 3)))
  rates = timing.alternate({"matmul": run}, count, windows)["matmul"]
  return float(np.median(rates)) * 2 * n ** 3


def first_step_seconds(model: str) -> dict:
  """In this (fresh) process: seconds from building the step to its first result."""
  config = model_config(model)
  data = None if config.data.is_mixture else real_images(config)
  t0 = time.perf_counter()
  c = jaxgan_contestant(config, data)
  return {"first_step_s": time.perf_counter() - t0, "compile_s": c["compile_s"]}


def compile_cache_effect(model: str) -> dict:
  """Runs `first_step_seconds` in two fresh processes sharing a new persistent cache."""
  cache = tempfile.mkdtemp(prefix="jaxgan-bench-cache-")
  env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": cache,
         "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
  out = {}
  for name in ("empty cache", "filled cache"):
    cmd = [sys.executable, "-m", "benchmarks.bench", f"--first_step_of={model}",
           f"--f32_precision={FLAGS.f32_precision}"]
    if FLAGS.data_dir:
      cmd.append(f"--data_dir={FLAGS.data_dir}")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
      raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    out[name] = {**json.loads(proc.stdout.strip().splitlines()[-1]),
                 "process_s": time.perf_counter() - t0}
  return out


def conv_layer_rates(windows: int) -> dict[str, float]:
  """GFLOP/s of DCGAN-28's largest layer (5x5, 256 -> 128 channels on 7x7, batch 64), as a
  plain convolution, forward and forward + both gradients, in XLA and in PyTorch."""
  b, side, c_in, c_out, k = 64, 7, 256, 128, 5
  flops = 2 * b * side * side * c_in * c_out * k * k
  x = jax.random.normal(jax.random.key(0), (b, side, side, c_in))
  w = 0.01 * jax.random.normal(jax.random.key(1), (k, k, c_in, c_out))
  conv = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
  fwd = jax.jit(conv)
  both = jax.jit(jax.grad(lambda x, w: jnp.sum(conv(x, w).astype(jnp.float32) ** 2),
                          argnums=(0, 1)))
  runs = {}
  for dtype in (jnp.float32, jnp.bfloat16):  # bf16: the lever of computing in bfloat16
    xd, wd, tag = x.astype(dtype), w.astype(dtype), "" if dtype == jnp.float32 else " bf16"
    runs[f"XLA forward{tag}"] = lambda c, xd=xd, wd=wd: jax.block_until_ready(
        [fwd(xd, wd) for _ in range(c)])
    runs[f"XLA forward+backward{tag}"] = lambda c, xd=xd, wd=wd: jax.block_until_ready(
        [both(xd, wd) for _ in range(c)])
  if torch_available() is None:
    import torch  # pylint: disable=import-outside-toplevel
    device = torch_device()
    tx = torch.randn(b, c_in, side, side, requires_grad=True, device=device)
    layer = torch.nn.Conv2d(c_in, c_out, k, 1, 2, bias=False).to(device)

    def torch_fwd(c):
      with torch.no_grad():
        for _ in range(c):
          layer(tx)
      torch_sync(device)

    def torch_both(c):
      for _ in range(c):
        layer(tx).pow(2).sum().backward()
      torch_sync(device)

    runs.update({"PyTorch forward": torch_fwd, "PyTorch forward+backward": torch_both})
  for run in runs.values():
    run(1)
  rates = timing.alternate(runs, 4 if jax.default_backend() == "cpu" else 200, windows)
  return {name: float(np.median(r)) * flops * (3 if "backward" in name else 1) / 1e9
          for name, r in rates.items()}


def transfer_guard_check(contestant) -> str:
  """Runs 3 steps with implicit host<->device transfers disallowed."""
  try:
    with jax.transfer_guard("disallow"):
      contestant["run"](3)
  except Exception as e:  # pylint: disable=broad-except
    return f"an implicit transfer: {type(e).__name__}: {str(e)[:200]}"
  return "none in 3 steps"


# --- the run --------------------------------------------------------------------------

def measure(model: str, contestants: list[str]) -> dict:
  config = model_config(model)
  data = real_np = None
  if not config.data.is_mixture:
    data = real_images(config)
    real_np = data.read_all()[0]
  runners, notes = {}, {}
  jx = jaxgan_contestant(config, data)
  for name in contestants:
    if name == "jaxgan":
      runners[name] = jx["run"]
    elif name == "naive_jax":
      runners[name] = naive_contestant(config, real_np)["run"]
    elif name == "torch":
      if (why := torch_available()) is not None:
        logging.warning("torch skipped: %s", why)
        notes["torch"] = why
        continue
      c = torch_contestant(config, real_np)
      runners[name], notes["torch"] = c["run"], c["note"]
    else:
      raise app.UsageError(f"--contestants: {name!r} is not accepted; choose jaxgan, torch "
                           "or naive_jax")
  lever_info = {}
  if FLAGS.levers:
    n = FLAGS.steps_per_call
    variants = {"jaxgan, fresh z": dict(reuse_fake=False),
                "jaxgan, not donated": dict(donate=False),
                "jaxgan, bf16 compute": dict(compute_dtype="bfloat16"),
                f"jaxgan, {n} steps/call unrolled": dict(steps_per_call=n)}
    if FLAGS.scan_lever:
      variants[f"jaxgan, {n} steps/call lax.scan"] = dict(steps_per_call=n, scan=True)
    for name, kw in variants.items():
      c = jaxgan_contestant(config, data, **kw)
      runners[name] = c["run"]
      lever_info[name] = {"compile_s": c["compile_s"], "flops": c["flops"]}
  count = FLAGS.dcgan_steps if model == "dcgan28" else FLAGS.mlp_steps
  if FLAGS.levers:  # whole calls of the multi-step variant
    count = max(FLAGS.steps_per_call, count - count % FLAGS.steps_per_call)
  rates = timing.alternate(runners, count, FLAGS.windows)
  result = {"config": {"batch_size": config.run.batch_size, "dtype": "float32",
                       "steps_per_window": count, "windows": FLAGS.windows},
            "steps_per_s": timing.summarise(rates, "jaxgan" if "jaxgan" in rates else None),
            "notes": notes, "compile_s": jx["compile_s"], "step_flops": jx["flops"],
            "levers": lever_info, "transfer_guard": transfer_guard_check(jx)}
  if FLAGS.pipeline and data is not None:
    result["pipeline_images_per_s"] = {
        name: float(np.median(r)) for name, r in
        timing.feed_rates(data, config.run.batch_size, 300, FLAGS.windows).items()}
  if FLAGS.compile_cache:
    result["first_step"] = compile_cache_effect(model)
  if model == "dcgan28":
    result["largest_conv_gflops"] = conv_layer_rates(FLAGS.windows)
  if FLAGS.profile:
    result["profile"] = profile_step.profile(jx, 4)
  return result


def markdown(results: dict) -> str:
  env = results["environment"]
  lines = [f"backend {env['backend']} ({env['device']}), {env['cpus']} CPUs, jax "
           f"{env['jax']}, {env.get('torch', 'no torch')}; f32 matmul "
           f"{env['matmul_size']}² in XLA: {env['matmul_gflops_start']:.1f} GFLOP/s at the "
           f"start, {env['matmul_gflops_end']:.1f} at the end (MFU below is against the "
           f"higher)" + (f"; in PyTorch: {env['torch_matmul_gflops']:.1f} GFLOP/s"
                         if "torch_matmul_gflops" in env else "")
           + (f"; f32 precision on the GPU: {env['f32_precision']}"
              if env["backend"] == "gpu" else ""), ""]
  for model, r in results["models"].items():
    c = r["config"]
    lines += [f"**{model}**, batch {c['batch_size']}, {c['dtype']}, {c['windows']} windows "
              f"of {c['steps_per_window']} steps", "",
              "| contestant | steps/s median | min–max | ratio to jaxgan | MFU |",
              "|---|---|---|---|---|"]
    for name, s in r["steps_per_s"].items():
      flops = r["levers"].get(name, {}).get("flops", r["step_flops"])
      mfu = flops * s["median"] / (env["matmul_gflops"] * 1e9)
      lines.append(f"| {name} | {s['median']:.2f} | {s['min']:.2f}–{s['max']:.2f} | "
                   f"{s['ratio']:.2f} | {100 * mfu:.0f} % |" if name.startswith("jaxgan") else
                   f"| {name} | {s['median']:.2f} | {s['min']:.2f}–{s['max']:.2f} | "
                   f"{s['ratio']:.2f} | |")
    for name, note in r["notes"].items():
      lines.append(f"\n{name}: {note}")
    lines += ["", f"- step: {r['step_flops'] / 1e9:.2f} GFLOP (XLA cost analysis), compiled in "
              f"{r['compile_s']:.1f} s"]
    for name, info in r["levers"].items():
      lines.append(f"- {name}: compiled in {info['compile_s']:.1f} s")
    if "first_step" in r:
      fs = r["first_step"]
      lines.append("- first step of a fresh process: " + ", ".join(
          f"{k} {v['first_step_s']:.1f} s (compile {v['compile_s']:.1f} s)"
          for k, v in fs.items()))
    if "pipeline_images_per_s" in r:
      consumed = r["steps_per_s"]["jaxgan"]["median"] * c["batch_size"]
      lines.append(f"- input pipeline: the step consumes {consumed:.0f} images/s; " + ", ".join(
          f"{k} {v:.0f} images/s ({v / consumed:.0f}×)"
          for k, v in r["pipeline_images_per_s"].items()))
    if "largest_conv_gflops" in r:
      lines.append("- the largest layer (5×5 conv, 256→128 on 7×7, batch 64) in GFLOP/s: " +
                   ", ".join(f"{k} {v:.0f}" for k, v in r["largest_conv_gflops"].items()))
    lines += [f"- implicit transfers under `jax.transfer_guard('disallow')`: "
              f"{r['transfer_guard']}", ""]
    if "profile" in r:
      lines += [r["profile"], ""]
  return "\n".join(lines)


def xla_flag_sweep(flag_sets: list[str]) -> str:
  """Times the jaxgan step of each model under each XLA_FLAGS setting; returns Markdown.

  XLA reads its flags once per process, so each setting runs in its own process; the
  settings take turns, round after round, and each cell is the median over its rounds of
  that process's median steps/s.
  """
  rates = {(m, f): [] for m in FLAGS.models for f in flag_sets}
  with tempfile.TemporaryDirectory() as tmp:
    for _ in range(FLAGS.sweep_rounds):
      for model in FLAGS.models:
        for flag_set in flag_sets:
          cmd = [sys.executable, "-m", "benchmarks.bench", f"--models={model}",
                 "--contestants=jaxgan", "--nolevers", "--nocompile_cache", "--nopipeline",
                 f"--windows={FLAGS.windows}", f"--out_dir={tmp}", "--matmul_size=256"]
          if FLAGS.data_dir:
            cmd.append(f"--data_dir={FLAGS.data_dir}")
          proc = subprocess.run(cmd, env={**os.environ, "XLA_FLAGS": flag_set},
                                capture_output=True, text=True, check=False)
          if proc.returncode:
            raise RuntimeError(f"XLA_FLAGS={flag_set!r} failed:\n{proc.stderr[-2000:]}")
          with open(os.path.join(tmp, "bench.json"), encoding="utf-8") as f:
            result = json.load(f)["models"][model]["steps_per_s"]["jaxgan"]["median"]
          rates[(model, flag_set)].append(result)
  lines = ["| model | XLA_FLAGS | steps/s (median of rounds) | per round | ratio to default |",
           "|---|---|---|---|---|"]
  for model in FLAGS.models:
    base = float(np.median(rates[(model, flag_sets[0])]))
    for flag_set in flag_sets:
      r = rates[(model, flag_set)]
      lines.append(f"| {model} | `{flag_set or '(none)'}` | {np.median(r):.2f} | "
                   f"{', '.join(f'{v:.2f}' for v in r)} | {np.median(r) / base:.2f} |")
  return "\n".join(lines)


def main(argv):
  del argv
  set_f32_precision(FLAGS.f32_precision)
  if FLAGS.first_step_of:
    print(json.dumps(first_step_seconds(FLAGS.first_step_of)))
    return
  if FLAGS.xla_flag_sets is not None:
    table = xla_flag_sweep(FLAGS.xla_flag_sets.split(";"))
    print(table)
    os.makedirs(FLAGS.out_dir, exist_ok=True)
    with open(os.path.join(FLAGS.out_dir, "xla_flags.md"), "w", encoding="utf-8") as f:
      f.write(table + "\n")
    return
  env = {"backend": jax.default_backend(), "device": str(jax.devices()[0].device_kind),
         "cpus": os.cpu_count(), "jax": jax.__version__, "matmul_size": FLAGS.matmul_size,
         "xla_flags": os.environ.get("XLA_FLAGS", ""), "f32_precision": FLAGS.f32_precision,
         "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}
  if torch_available() is None:
    import torch  # pylint: disable=import-outside-toplevel
    env["torch"] = (f"torch {torch.__version__} on {torch_device()} "
                    f"({torch.get_num_threads()} threads)")
  results = {"environment": env, "models": {}}
  before = timing.matmul_flops_per_s(FLAGS.matmul_size, FLAGS.windows) / 1e9
  for model in FLAGS.models:
    logging.info("measuring %s", model)
    results["models"][model] = measure(model, FLAGS.contestants)
  # The peak again at the end (the machine's speed drifts); MFU is against the higher.
  after = timing.matmul_flops_per_s(FLAGS.matmul_size, FLAGS.windows) / 1e9
  env.update(matmul_gflops_start=before, matmul_gflops_end=after,
             matmul_gflops=max(before, after))
  if "torch" in env:  # the same matmul in PyTorch: another BLAS, another ceiling
    env["torch_matmul_gflops"] = torch_matmul_flops_per_s(FLAGS.matmul_size,
                                                           FLAGS.windows) / 1e9
  table = markdown(results)
  print(table)
  os.makedirs(FLAGS.out_dir, exist_ok=True)
  with open(os.path.join(FLAGS.out_dir, "bench.json"), "w", encoding="utf-8") as f:
    json.dump(results, f, indent=2)
  with open(os.path.join(FLAGS.out_dir, "bench.md"), "w", encoding="utf-8") as f:
    f.write(table + "\n")


if __name__ == "__main__":
  if any(arg.startswith("--flagfile") for arg in sys.argv[1:]):
    # A training flagfile's step (StyleGAN2 at 64 px here, 256 px on a GPU; R3GAN): the
    # runner's flags are bench_flagfile's, so it runs in its own Python.
    os.execv(sys.executable, [sys.executable, "-m", "benchmarks.bench_flagfile",
                              *sys.argv[1:]])
  app.run(main)
