#!/usr/bin/env bash
# The GPU check: the bundle's vLLM paths on one GPU with a small random Qwen3-VL, in 6 to 9 minutes (349 s and about
# 510 s on H100s), before hours of 8B training. Needs a GPU node with requirements.txt installed; run from the bundle
# folder:
#
#   bash bench/gpu_check.sh [WORK_DIR]          # default /tmp/vsi_gpu_check (replaced if this script made it)
#   MODEL_SIZE=8b bash bench/gpu_check.sh       # memory and step time of the default config at 8B size
#
# Training uses the visible GPUs as run_vsi_grpo.sh does (CUDA_VISIBLE_DEVICES=0 for one); evaluation and the memory
# readings use the first.
# 1. 6 synthetic scenes -> 8 frames per question -> swift rows (test scenes excluded); the tiny Qwen3-VL with
#    head_dim 64 (vLLM's attention kernels are not built for the CPU demo's head size 8)
# 2. GRPO through run_vsi_grpo.sh, MODE=colocate, vsi_grpo_config.yaml as it is but for 4 steps of the demo's
#    one-token answers at its learning rate (rewards then vary, so the LoRA moves and the comparison below means
#    something; with the YAML's 256 tokens a random model earns no reward and its LoRA stays zero)
# 3. eval_vsi_bench.py with vLLM on the base model and on the trained LoRA, and on the LoRA with transformers, each
#    answering in one token as trained
# Prints each stage's exit status, time and peak GPU memory, each training step's time and memory, the scores, on
# how many questions the LoRA changed vLLM's answer (none: the adapter was not applied), and on how many vLLM and
# transformers predict the same (a random model's near-tied logits make a few differ in bfloat16).
# MODEL_SIZE=8b instead measures the default config as users run it, on a random model of Qwen3-VL-8B's
# architecture (demo/build_tiny_qwen3_vl.py --size 8b, 17.5 GB written to WORK_DIR): 640x480 scenes, 32 frames per
# question, the YAML as it is (256-token completions) for 3 steps; no evaluation. Per GPU this is what an 8-GPU run
# does: one question of 8 generations per step. About 7 minutes on an H100 (426 s; the README has its figures).
# Each stage runs in its own process group under a time limit; logs are in WORK_DIR/logs.
set -uo pipefail

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    awk 'NR > 1 { if (!/^#/) exit; sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
    exit 0
fi
if [[ $# -gt 1 || ${1:-} == -* ]]; then
    echo "usage: bash bench/gpu_check.sh [WORK_DIR]   (--help: what it runs)" >&2
    exit 2
fi
# before anything is deleted or made: on a machine without a GPU nothing of an earlier check's folder is lost
command -v nvidia-smi >/dev/null || { echo "gpu_check.sh: nvidia-smi not found: this check needs a GPU" >&2; exit 1; }
WORK=${1:-/tmp/vsi_gpu_check}
PY=${PYTHON:-python}
MODEL_SIZE=${MODEL_SIZE:-tiny}
[[ $MODEL_SIZE == tiny || $MODEL_SIZE == 8b ]] || { echo "gpu_check.sh: MODEL_SIZE must be tiny or 8b" >&2; exit 1; }
LOGS=$WORK/logs
if [[ -e $WORK && ! -f $LOGS/stages.txt ]]; then
    echo "gpu_check.sh: $WORK exists and was not made by this script; give another WORK_DIR" >&2
    exit 1
fi
rm -rf -- "$WORK"
mkdir -p "$LOGS"
T0=$SECONDS
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

stage() { echo "=== $(date +%s) +$((SECONDS - T0))s $*" | tee -a "$LOGS/stages.txt"; }

# The running stage's process group and its time-limit watcher. A signal to this script (Ctrl-C, `timeout`, a
# scheduler) stops the stage too: in a group of its own it would go on holding the GPU (a vLLM evaluation outlived
# `timeout gpu_check.sh` on an H100).
STAGE_PID='' STAGE_WATCHER=''
end_watcher() {  # the watcher and its sleep; reaped with stderr off, so that bash prints no "Terminated"
    [[ -n $STAGE_WATCHER ]] || return 0
    pkill -P "$STAGE_WATCHER" 2>/dev/null
    kill "$STAGE_WATCHER" 2>/dev/null
    wait "$STAGE_WATCHER" 2>/dev/null
    STAGE_WATCHER=
}
stop_stage() {
    end_watcher
    [[ -n $STAGE_PID ]] || return 0
    kill -TERM -- "-$STAGE_PID" 2>/dev/null
    for _ in {1..50}; do
        kill -0 -- "-$STAGE_PID" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -KILL -- "-$STAGE_PID" 2>/dev/null
}
trap 'stop_stage; exit 130' INT
trap 'stop_stage; exit 143' TERM
trap 'stop_stage; exit 129' HUP

# run_stage NAME SECONDS COMMAND...: COMMAND in its own process group, killed with it after SECONDS.
run_stage() {
    local name=$1 secs=$2 rc
    shift 2
    stage "$name (limit ${secs}s)"
    setsid "$@" >"$LOGS/$name.log" 2>&1 &
    STAGE_PID=$!
    (sleep "$secs"; kill -TERM -- "-$STAGE_PID"; sleep 10; kill -KILL -- "-$STAGE_PID") 2>/dev/null &
    STAGE_WATCHER=$!
    wait "$STAGE_PID"
    rc=$?
    end_watcher
    kill -KILL -- "-$STAGE_PID" 2>/dev/null  # what the stage left behind (vLLM engine processes)
    STAGE_PID=
    echo "$name rc=$rc after $((SECONDS - T0))s" | tee -a "$LOGS/stages.txt"
    [[ $rc == 0 ]] || tail -30 "$LOGS/$name.log" | cut -c1-400
    return "$rc"
}

GPU=${CUDA_VISIBLE_DEVICES:-0}
GPU=${GPU%%,*}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$LOGS/env.txt"
(while sleep 0.5; do echo "$(date +%s.%N),$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$GPU")"; done) \
    >"$LOGS/gpu_mem.csv" 2>/dev/null &
MON=$!
trap 'kill $MON 2>/dev/null' EXIT

# Scenes, frames, swift rows and the model: the CPU steps of `make demo`, with 8 frames and head_dim 64; then training
# as the header says (8b: 640x480 scenes, 32 frames, the 8B architecture, the YAML's own training settings).
if [[ $MODEL_SIZE == 8b ]]; then
    FRAMES=32 SCENE_SIZE=(--width 640 --height 480) MODEL_ARGS=(--size 8b)
    TRAIN_LIMIT=900 TRAIN_ARGS=(--max_steps 3 --save_steps 3)
else
    FRAMES=8 SCENE_SIZE=() MODEL_ARGS=(--head_dim 64 --answer_prior)
    TRAIN_LIMIT=300 TRAIN_ARGS=(--max_steps 4 --save_steps 2 --max_completion_length 1 --learning_rate 1e-3)
fi
prepare() {
    "$PY" demo/make_synthetic_scenes.py --output_dir "$WORK/scenes" --num_scenes 6 --seed 0 "${SCENE_SIZE[@]}" &&
        "$PY" extract_frames.py --video_dir "$WORK/scenes/videos" --output_dir "$WORK/frames" \
            --num_frames "$FRAMES" --no_progress &&
        "$PY" preprocess_vsi_data.py --input_path "$WORK/scenes/train.json" --frames_dir "$WORK/frames" \
            --output_path "$WORK/data/vsi_train.jsonl" --num_frames "$FRAMES" \
            --exclude_scenes "$WORK/scenes/test.jsonl" --no_progress &&
        "$PY" demo/build_tiny_qwen3_vl.py --output_dir "$WORK/model" "${MODEL_ARGS[@]}"
}
stage data
if ! prepare >"$LOGS/data.log" 2>&1; then
    tail -20 "$LOGS/data.log"
    exit 1
fi

FAILED=()  # the stages that did not exit 0: the check's exit status says so after the summary
run_stage colocate "$TRAIN_LIMIT" env MODEL="$WORK/model" DATASET="$WORK/data/vsi_train.jsonl" \
    OUTPUT_DIR="$WORK/grpo" bash run_vsi_grpo.sh "${TRAIN_ARGS[@]}" --dataloader_num_workers 2 --dataset_num_proc 2 ||
    FAILED+=(colocate)
CKPT=$(find "$WORK/grpo" -maxdepth 2 -type d -name 'checkpoint-*' | sort -V | tail -1)
echo "checkpoint: ${CKPT:-none}" | tee -a "$LOGS/stages.txt"
[[ -n $CKPT ]] || FAILED+=("checkpoint (none saved)")

if [[ $MODEL_SIZE == tiny ]]; then
    EVAL=(env MAX_PIXELS=262144 "$PY" eval_vsi_bench.py --model "$WORK/model" --model_type qwen3_vl
        --dataset "$WORK/scenes/test.jsonl" --frames_dir "$WORK/frames" --num_frames "$FRAMES" --max_new_tokens 1)
    run_stage eval_base_vllm 240 "${EVAL[@]}" --infer_backend vllm --output_dir "$WORK/eval_base_vllm" ||
        FAILED+=(eval_base_vllm)
    if [[ -n $CKPT ]]; then
        run_stage eval_lora_vllm 240 "${EVAL[@]}" --infer_backend vllm --adapters "$CKPT" \
            --output_dir "$WORK/eval_lora_vllm" || FAILED+=(eval_lora_vllm)
        run_stage eval_lora_pt 120 "${EVAL[@]}" --infer_backend pt --batch_size 16 --torch_dtype bfloat16 \
            --adapters "$CKPT" --output_dir "$WORK/eval_lora_pt" || FAILED+=(eval_lora_pt)
    fi
fi
stage summary
"$PY" - "$WORK" <<'EOF'
import json, re, sys
from pathlib import Path

from eval_vsi_bench import load_results, read_predictions

work = Path(sys.argv[1])
stages = (work / 'logs/stages.txt').read_text()
for log in sorted(work.glob('grpo/*/logging.jsonl')):
    for row in map(json.loads, log.read_text().splitlines()):
        if 'step_time' in row:
            print(f"training step {row['global_step/max_steps']}: {row['step_time']:.1f} s, "
                  f"swift memory {row.get('memory(GiB)', '?')} GiB, reward {row.get('reward', '?')}, "
                  f"grad_norm {row.get('grad_norm', '?')}")
for name in ('eval_base_vllm', 'eval_lora_vllm', 'eval_lora_pt'):
    if f' {name} (limit' not in stages:  # not run: MODEL_SIZE=8b, or no checkpoint to evaluate
        continue
    results = work / name / 'results.json'
    if results.is_file():
        r = load_results(str(results))
        print(f"{name}: overall {r['overall']:.2f} on {r['num_questions']} questions")
    else:
        print(f'{name}: no results')


def predictions(name):
    path = work / name / 'predictions.jsonl'
    return {key: row['prediction'] for key, row in read_predictions(path).items()} if path.is_file() else {}


def compare(what, first, second):
    a, b = predictions(first), predictions(second)
    common = a.keys() & b.keys()
    if common:
        same = sum(a[k] == b[k] for k in common)
        print(f'{what}: same prediction on {same} of {len(common)}, different on {len(common) - same}')


compare('LoRA vs base model, vLLM', 'eval_lora_vllm', 'eval_base_vllm')
compare('LoRA, vLLM vs transformers', 'eval_lora_vllm', 'eval_lora_pt')
mem = [tuple(map(float, line.split(','))) for line in (work / 'logs/gpu_mem.csv').read_text().splitlines()
       if re.fullmatch(r'[\d.]+,\d+', line.strip())]
starts = [(float(m[1]), m[2]) for m in re.finditer(r'=== (\d+) \S+ (\w+)', stages)]
for (start, name), (end, _) in zip(starts, starts[1:] + [(float('inf'), '')]):
    used = [m for t, m in mem if start <= t < end]
    if used:
        print(f'{name}: peak GPU memory {max(used) / 1024:.1f} GiB')
EOF
stage end
if [[ ${#FAILED[@]} -gt 0 ]]; then
    echo "gpu_check.sh: failed: ${FAILED[*]} (logs in $LOGS)" >&2
    exit 1
fi
