#!/usr/bin/env bash
# The GPU check: the bundle's vLLM paths on one GPU with a small random Qwen3-VL, in about 5 minutes, before hours
# of 8B training. Needs a GPU node with requirements.txt installed; run from the bundle folder:
#
#   bash bench/gpu_check.sh [WORK_DIR]          # default /tmp/vsi_gpu_check (replaced if this script made it)
#
# Training uses the visible GPUs as run_vsi_grpo.sh does (CUDA_VISIBLE_DEVICES=0 for one); evaluation and the memory
# readings use the first.
# 1. 6 synthetic scenes -> 8 frames per question -> swift rows (test scenes excluded); the tiny Qwen3-VL with
#    head_dim 64 (vLLM's attention kernels are not built for the CPU demo's head size 8)
# 2. GRPO through run_vsi_grpo.sh, MODE=colocate, vsi_grpo_config.yaml as it is but for 4 steps of the demo's
#    one-token answers at its learning rate (rewards then vary, so the LoRA moves and the comparison below means
#    something; with the YAML's 256 tokens a random model earns no reward and its LoRA stays zero)
# 3. eval_vsi_bench.py with vLLM on the base model and on the trained LoRA, and on the LoRA with transformers
# Prints each stage's exit status, time and peak GPU memory, the scores, and on how many questions vLLM and
# transformers predict the same (a random model's near-tied logits make a few differ in bfloat16).
# Each stage runs in its own process group under a time limit; logs are in WORK_DIR/logs.
set -uo pipefail

WORK=${1:-/tmp/vsi_gpu_check}
PY=${PYTHON:-python}
LOGS=$WORK/logs
if [[ -e $WORK && ! -f $LOGS/stages.txt ]]; then
    echo "gpu_check.sh: $WORK exists and was not made by this script; give another WORK_DIR" >&2
    exit 1
fi
rm -rf "$WORK"
mkdir -p "$LOGS"
T0=$SECONDS
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

stage() { echo "=== $(date +%s) +$((SECONDS - T0))s $*" | tee -a "$LOGS/stages.txt"; }

# run_stage NAME SECONDS COMMAND...: COMMAND in its own process group, killed with it after SECONDS.
run_stage() {
    local name=$1 secs=$2 pid watcher rc
    shift 2
    stage "$name (limit ${secs}s)"
    setsid "$@" >"$LOGS/$name.log" 2>&1 &
    pid=$!
    (sleep "$secs"; kill -TERM -- "-$pid" 2>/dev/null; sleep 10; kill -KILL -- "-$pid" 2>/dev/null) &
    watcher=$!
    wait "$pid"
    rc=$?
    pkill -P "$watcher" 2>/dev/null
    kill "$watcher" 2>/dev/null
    kill -KILL -- "-$pid" 2>/dev/null  # what the stage left behind (vLLM engine processes)
    echo "$name rc=$rc after $((SECONDS - T0))s" | tee -a "$LOGS/stages.txt"
    [[ $rc == 0 ]] || tail -30 "$LOGS/$name.log" | cut -c1-400
    return "$rc"
}

GPU=${CUDA_VISIBLE_DEVICES:-0}
GPU=${GPU%%,*}
command -v nvidia-smi >/dev/null || { echo "gpu_check.sh: nvidia-smi not found: this check needs a GPU" >&2; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$LOGS/env.txt"
(while sleep 0.5; do echo "$(date +%s.%N),$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$GPU")"; done) \
    >"$LOGS/gpu_mem.csv" 2>/dev/null &
MON=$!
trap 'kill $MON 2>/dev/null' EXIT

# Scenes, frames, swift rows and the model: the CPU steps of `make demo`, with 8 frames and head_dim 64.
prepare() {
    "$PY" demo/make_synthetic_scenes.py --output_dir "$WORK/scenes" --num_scenes 6 --seed 0 &&
        "$PY" extract_frames.py --video_dir "$WORK/scenes/videos" --output_dir "$WORK/frames" --num_frames 8 \
            --no_progress &&
        "$PY" preprocess_vsi_data.py --input_path "$WORK/scenes/train.json" --frames_dir "$WORK/frames" \
            --output_path "$WORK/data/vsi_train.jsonl" --num_frames 8 --exclude_scenes "$WORK/scenes/test.jsonl" \
            --no_progress &&
        "$PY" demo/build_tiny_qwen3_vl.py --output_dir "$WORK/model" --head_dim 64 --answer_prior
}
stage data
if ! prepare >"$LOGS/data.log" 2>&1; then
    tail -20 "$LOGS/data.log"
    exit 1
fi

run_stage colocate 300 env MODEL="$WORK/model" DATASET="$WORK/data/vsi_train.jsonl" OUTPUT_DIR="$WORK/grpo" \
    bash run_vsi_grpo.sh --max_steps 4 --save_steps 2 --max_completion_length 1 --learning_rate 1e-3 \
    --dataloader_num_workers 2 --dataset_num_proc 2
CKPT=$(find "$WORK/grpo" -maxdepth 2 -type d -name 'checkpoint-*' | sort -V | tail -1)
echo "checkpoint: ${CKPT:-none}" | tee -a "$LOGS/stages.txt"

EVAL=(env MAX_PIXELS=262144 "$PY" eval_vsi_bench.py --model "$WORK/model" --model_type qwen3_vl
    --dataset "$WORK/scenes/test.jsonl" --frames_dir "$WORK/frames" --num_frames 8 --max_new_tokens 16)
run_stage eval_base_vllm 240 "${EVAL[@]}" --infer_backend vllm --output_dir "$WORK/eval_base_vllm"
if [[ -n $CKPT ]]; then
    run_stage eval_lora_vllm 240 "${EVAL[@]}" --infer_backend vllm --adapters "$CKPT" \
        --output_dir "$WORK/eval_lora_vllm"
    run_stage eval_lora_pt 120 "${EVAL[@]}" --infer_backend pt --batch_size 16 --torch_dtype bfloat16 \
        --adapters "$CKPT" --output_dir "$WORK/eval_lora_pt"
fi
stage summary
"$PY" - "$WORK" <<'EOF'
import re, sys
from pathlib import Path

from eval_vsi_bench import load_results, read_predictions

work = Path(sys.argv[1])
for name in ('eval_base_vllm', 'eval_lora_vllm', 'eval_lora_pt'):
    results = work / name / 'results.json'
    if results.is_file():
        r = load_results(str(results))
        print(f"{name}: overall {r['overall']:.2f} on {r['num_questions']} questions")
    else:
        print(f'{name}: no results')


def predictions(name):
    path = work / name / 'predictions.jsonl'
    return {key: row['prediction'] for key, row in read_predictions(path).items()} if path.is_file() else {}


vllm, pt = predictions('eval_lora_vllm'), predictions('eval_lora_pt')
common = vllm.keys() & pt.keys()
print(f'LoRA, vLLM vs transformers: same prediction on {sum(vllm[k] == pt[k] for k in common)} of {len(common)}')
mem = [tuple(map(float, line.split(','))) for line in (work / 'logs/gpu_mem.csv').read_text().splitlines()
       if re.fullmatch(r'[\d.]+,\d+', line.strip())]
starts = [(float(m[1]), m[2]) for m in re.finditer(r'=== (\d+) \S+ (\w+)', (work / 'logs/stages.txt').read_text())]
for (start, name), (end, _) in zip(starts, starts[1:] + [(float('inf'), '')]):
    used = [m for t, m in mem if start <= t < end]
    if used:
        print(f'{name}: peak GPU memory {max(used) / 1024:.1f} GiB')
EOF
stage end
