#!/bin/bash
# ADA survives a kill: `bash studies/ada_kill_resume.sh [ROOT]`.
# A run with ADA (a small MLP GAN on 256 random 16×16 grey images, p adapting fast) is killed
# by SIGKILL at a random moment after its first checkpoint, then run again with the same
# command; it must end with the same state_sha256, p, r_t and image count as the same run
# uninterrupted, which runs beside it. ROOT (default: a new temporary folder) keeps both.
# $EXTRA flags go to every run: `EXTRA="--data_placement=host --data_workers=2"` feeds the
# batches through grain's workers; 16 steps make an epoch, so every checkpoint falls mid-epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${1:-$(mktemp -d)}
python -c "import numpy as np; np.savez('$ROOT/d.npz', x=np.random.default_rng(0).integers(0, 256, (256, 16, 16, 1), dtype=np.uint8))"
FLAGS="--dataset=array --data_path=$ROOT/d.npz --data_dir=$ROOT/tfds --model=mlp --g_width=32
  --d_width=32 --batch_size=16 --num_steps=600 --checkpoint_every=50 --log_every=10
  --eval_every=100000 --augment=ada --ada_kimg=1 --ada_target=0.3 --notensorboard --grid_size=4
  ${EXTRA:-}"
python -m experiments.run --workdir="$ROOT/tfds_prepare" $FLAGS --num_steps=1 > /dev/null 2>&1
python -m experiments.run --workdir="$ROOT/whole" $FLAGS > "$ROOT/whole.log" 2>&1 &
WHOLE=$!
python -m experiments.run --workdir="$ROOT/killed" $FLAGS > "$ROOT/killed_first.log" 2>&1 &
VICTIM=$!
until [ -d "$ROOT/killed/checkpoints/50" ]; do sleep 0.2; done
DELAY=$(python -c "import random; print(round(random.uniform(0, 3), 2))")
sleep "$DELAY"
kill -9 "$VICTIM" || true
wait "$VICTIM" 2> /dev/null || true
echo "killed $DELAY s after checkpoint 50; checkpoints then: $(ls "$ROOT/killed/checkpoints" | tr '\n' ' ')"
python -m experiments.run --workdir="$ROOT/killed" $FLAGS > "$ROOT/killed_again.log" 2>&1
wait "$WHOLE"
ROOT="$ROOT" python - <<'PY'
import json, os
root = os.environ["ROOT"]
summary = lambda d: json.load(open(os.path.join(root, d, "summary.json")))
last = lambda d: [json.loads(l) for l in open(os.path.join(root, d, "metrics.jsonl"))
                  if '"aug/p"' in l][-1]
a, b = summary("whole"), summary("killed")
print(f"resumed from step {b['resumed_from_step']}; state_sha256 "
      f"{'equal' if a['state_sha256'] == b['state_sha256'] else 'DIFFERENT'}: "
      f"{a['state_sha256'][:16]} / {b['state_sha256'][:16]}")
for d in ("whole", "killed"):
  r = last(d)
  print(f"{d}: step {r['step']}, p {r['aug/p']:.4f}, r_t {r['aug/rt']:.4f}, kimg {r['kimg']}")
PY
