"""benchmarks/profile_step.py: the per-operation account of a compiled step."""

import gzip
import json

import jax
import jax.numpy as jnp

from benchmarks import profile_step

HLO = """
%fused_computation.7 (param_0: f32[2,8,8,3], param_1: f32[3,3,3,4]) -> f32[2,8,8,4] {
  %param_0 = f32[2,8,8,3]{3,2,1,0} parameter(0)
  %param_1 = f32[3,3,3,4]{3,2,1,0} parameter(1)
  ROOT %conv.1 = f32[2,8,8,4]{3,2,1,0} convolution(%param_0, %param_1), window={size=3x3 pad=1_1x1_1}, dim_labels=b01f_01io->b01f
}

ENTRY %main (x: f32[2,8,8,3], w: f32[3,3,3,4]) -> f32[2,8,8,4] {
  %ynn_fusion.7 = f32[2,8,8,4]{3,2,1,0} fusion(%x, %w), kind=kCustom, calls=%fused_computation.7
  %transpose_copy_fusion.2 = f32[4,8,8,2]{3,2,1,0} fusion(%ynn_fusion.7), kind=kLoop, calls=%fc.2
}
"""


def test_kinds_and_what_an_operation_computes():
  lines = profile_step.instructions(HLO)
  assert profile_step.kind("ynn_fusion.7", lines["ynn_fusion.7"]) == (
      "conv/matmul in the kernel library")
  assert profile_step.kind("transpose_copy_fusion.2", lines["transpose_copy_fusion.2"]) == (
      "layout copies (transposes)")
  assert profile_step.kind("conv.1", lines["conv.1"]) == "conv in XLA's own runtime"
  assert profile_step.kind("add.3", "f32[4]{0} add(%a, %b)") == (
      "other (optimizer, activations, reductions)")
  assert profile_step.what_it_computes(HLO, "ynn_fusion.7") == (
      "convolution -> f32[2,8,8,4]{3,2,1,0}, window size=3x3 pad=1_1x1_1")
  assert profile_step.what_it_computes(HLO, "transpose_copy_fusion.2") == ""
  assert profile_step.what_it_computes(HLO, "absent.3") == ""


def test_op_times_add_up_each_operation_per_step_and_skip_other_events(tmp_path):
  events = [{"ph": "X", "name": "ynn_fusion.7", "dur": 3000},
            {"ph": "X", "name": "ynn_fusion.7", "dur": 5000},
            {"ph": "X", "name": "ThunkExecutor::Execute", "dur": 9000},
            {"ph": "X", "name": "multiply_fusion", "dur": 1000},
            {"ph": "i", "name": "ynn_fusion.7", "dur": 7000}]
  (tmp_path / "run").mkdir()
  with gzip.open(tmp_path / "run" / "perfetto_trace.json.gz", "wt") as f:
    json.dump({"traceEvents": events}, f)
  names = {"ynn_fusion.7", "multiply_fusion"}
  assert profile_step.op_times(str(tmp_path), 2, names) == {"ynn_fusion.7": 4.0,
                                                            "multiply_fusion": 0.5}


def test_profile_of_a_real_compiled_convolution_names_it():
  conv = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
      x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) * 2.0)
  # On the CPU, whatever the default device: the test reads XLA:CPU's operation names.
  x, w = jax.device_put((jnp.ones((8, 16, 16, 8)), jnp.ones((3, 3, 8, 16))),
                        jax.devices("cpu")[0])
  compiled = conv.lower(x, w).compile()
  run = lambda count: jax.block_until_ready([compiled(x, w) for _ in range(count)])
  run(1)
  text = profile_step.profile({"run": run, "compiled": compiled}, steps=3, top=5)
  conv_rows = [line for line in text.splitlines() if "convolution -> f32[8,16,16,16]" in line]
  assert len(conv_rows) == 1 and float(conv_rows[0].split("|")[2]) > 0  # timed, by name
  assert "Executable" not in text  # the runtime's own trace events are not operations
