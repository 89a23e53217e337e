#!/usr/bin/env bash
# GRPO + LoRA for Qwen3-VL-8B-Instruct on VSI-Bench-style spatial QA (ms-swift 4.6).
# 8 * 80GiB: MODE=colocate trains and rolls out on all 8 GPUs; MODE=server trains on 6 and serves vLLM on 2.
# Hyperparameters live in vsi_grpo_config.yaml; this script adds the GPU layout, a preflight that fails in
# seconds instead of after the model has loaded, and the life cycle of the `swift rollout` server.
#
#   bash run_vsi_grpo.sh                        # the YAML's mode (shipped: colocate) on every visible GPU
#   MODE=server bash run_vsi_grpo.sh            # swift rollout on the last 2 GPUs (1 of 2), training on the others
#   MODE=local MODEL=demo_out/tiny_qwen3_vl DATASET=demo_out/data/train.jsonl \
#       bash run_vsi_grpo.sh --torch_dtype float32 --fp16 false --max_steps 2   # after make demo: no vLLM, no GPU
#   DRY_RUN=1 bash run_vsi_grpo.sh              # print the commands and environment; run nothing (no GPU needed)
#   bash run_vsi_grpo.sh --learning_rate 5e-6   # extra flags go to swift and win over the YAML
#   bash run_vsi_grpo.sh --resume_from_checkpoint output/vsi_grpo/v0-<time>/last-checkpoint   # go on after a stop
#   bash run_vsi_grpo.sh --help                 # this text
#
# Environment, with defaults:
#   MODE                  colocate | server | local (local: one process, transformers generation, CPU is fine)
#                         [the YAML's, as swift rlhf reads it: use_vllm false or unset -> local, vllm_mode server
#                         -> server, else colocate]; when set, MODE wins over the YAML's use_vllm / vllm_mode
#   CONFIG                vsi_grpo_config.yaml beside this script
#   MODEL DATASET OUTPUT_DIR   when set, replace the YAML's model / dataset / output_dir
#   TRAIN_GPUS            training GPU ids [colocate: all visible; server: all visible but ROLLOUT_GPUS; local:
#                         the GPUs of its one process, all visible by default]
#   ROLLOUT_GPUS          server mode: GPU ids for swift rollout [the last 2 visible; the last 1 of 2]
#   NPROC_PER_NODE        node 0's training processes, one per training GPU [the number of its TRAIN_GPUS];
#                         when set it must match that number (MODE=local: 1). Every node runs one process per
#                         training GPU
#   NNODES NODE_RANK MASTER_ADDR MASTER_PORT   multi-node (torchrun's variables); run the script on every
#                         node with the same variables. Server mode: only node 0 starts the rollout server and
#                         holds back ROLLOUT_GPUS (only rank 0 talks to it); the other nodes train on all their GPUs
#                         (torchrun ranks nodes with different process counts), so NPROC_PER_NODE (node 0's count,
#                         6 of 8) is below theirs by the number of ROLLOUT_GPUS. The batch check counts the job's
#                         processes assuming every node sees the GPUs this one sees.
#   ROLLOUT_HOST=127.0.0.1 ROLLOUT_PORT=8000 ROLLOUT_TIMEOUT=1200 (seconds to become ready); set the server's
#                         address here, not with --vllm_server_host/port, so the health check looks there too; a
#                         vllm_server_host / vllm_server_port (/ _group_port) in the YAML must say the same
#   ROLLOUT_GROUP_PORT=51216  where the server's vLLM workers take the trainer's LoRA weights (swift's
#                         --vllm_server_group_port); a second server-mode run on the same node needs other ports
#   ROLLOUT_LOG           the rollout server's output [rollout.log in the run's output_dir: OUTPUT_DIR, a
#                         --output_dir flag or the YAML's]
#   STOP_GRACE            seconds training and the rollout server each get to end on TERM when the script stops
#                         them (done, failed, Ctrl-C) before they are KILLed [60 for training, 30 for the server];
#                         under a scheduler that KILLs after a grace of its own (Kubernetes: 30 s), give less
#   PYTHON=python SWIFT=swift   the interpreter for train_vsi_grpo.py (checks; MODE=local trains with it), swift's CLI
#   DRY_RUN=0             1, true, yes or on: print the commands and environment, run nothing
# GPU layout variables belong here, not in the YAML's ENV block (train_vsi_grpo.py rejects them there).
# Relative paths (the YAML's included) are taken from the current directory: run from the bundle folder.

# `sh run_vsi_grpo.sh` (dash on Debian and Ubuntu) stopped at the next line with `set: Illegal option -o pipefail`
[ -n "${BASH_VERSION:-}" ] || { echo "run_vsi_grpo.sh: run it with bash: bash $0" >&2; exit 1; }
set -euo pipefail

SCRIPT=${BASH_SOURCE[0]}
[[ ! -L $SCRIPT ]] || SCRIPT=$(readlink -f "$SCRIPT")  # run through a link: the bundle is where the script is
BUNDLE_DIR=$(dirname "$SCRIPT")

# The header comment above, then where swift's own flags are listed.
usage() {
    awk 'NR > 1 { if (!/^#/) exit; sub(/^# ?/, ""); print }' "$SCRIPT"
    echo
    echo "Every other argument is a swift flag, in every MODE (MODE=local hands them to swift's parser through"
    echo "train_vsi_grpo.py): \`swift rlhf --help\` lists them. In server mode the rollout server also gets those it"
    echo "shares with \`swift rollout\` (model, dtype, template, vLLM engine; not vllm_gpu_memory_utilization, the"
    echo "colocated share: the server takes swift rollout's 0.9 of its GPUs). See README section 3."
}

for arg in "$@"; do
    if [[ $arg == -h || $arg == --help ]]; then
        usage
        exit 0
    fi
done

MODE=${MODE:-}
CONFIG=${CONFIG:-$BUNDLE_DIR/vsi_grpo_config.yaml}
PYTHON=${PYTHON:-python}
SWIFT=${SWIFT:-swift}
DRY_RUN=${DRY_RUN:-0}
ROLLOUT_HOST=${ROLLOUT_HOST:-127.0.0.1}
ROLLOUT_PORT=${ROLLOUT_PORT:-8000}
ROLLOUT_GROUP_PORT=${ROLLOUT_GROUP_PORT:-51216}  # swift's default (rlhf_trainers/vllm_client.py)
ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT:-1200}  # loading 8B weights, vLLM profiling and CUDA graphs take minutes
STOP_GRACE=${STOP_GRACE:-}  # unset: stop_training's 60 s, stop_rollout's 30 s
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
# `0, 1` as `0,1`: CUDA_VISIBLE_DEVICES and the checks below compare ids as written
[[ -z ${TRAIN_GPUS:-} ]] || TRAIN_GPUS=${TRAIN_GPUS//[[:space:]]/}
[[ -z ${ROLLOUT_GPUS:-} ]] || ROLLOUT_GPUS=${ROLLOUT_GPUS//[[:space:]]/}
ROLLOUT_PID=
ROLLOUT_STARTING=
ROLLOUT_BEFORE=
TRAIN_PID=
TRAIN_STARTING=
# VSI_GRPO_TRAINING in the environment of training and of every process it starts (train): what training leaves
# running is found by it (stop_training); VSI_GRPO_ROLLOUT in the rollout server's. Both name this script's pid, so
# that what a run killed with SIGKILL (no cleanup) left running is found by the next one (leftover_processes).
TRAIN_MARK=$$-$RANDOM$RANDOM

# Neither may stop the script when stderr is gone (a `| tee` ended by the same Ctrl-C, a closed terminal): the
# exit traps still have training and the rollout server to stop.
fail() {
    echo "run_vsi_grpo.sh: $*" >&2 || true
    exit 1
}

log() {
    echo "run_vsi_grpo.sh: $*" >&2 || true
}

# the yes/no words of vsi_dataset.py's _BOOLEANS
case ${DRY_RUN,,} in  # anything else could be meant as yes, and a real run on 8 GPUs is no way to find out
    1 | true | yes | on) DRY_RUN=1 ;;
    0 | false | no | off | '') DRY_RUN=0 ;;
    *) fail "DRY_RUN=$DRY_RUN is not 1, true, yes, on (print the commands) or 0, false, no, off (run them)" ;;
esac
for name in ROLLOUT_PORT ROLLOUT_GROUP_PORT; do  # (a bind beyond 65535 fails, which the busy-port check took for busy)
    if ! [[ ${!name} =~ ^[1-9][0-9]{0,4}$ ]] || ((${!name} > 65535)); then
        fail "$name=${!name} is not a port number (1-65535)"
    fi
done
((ROLLOUT_GROUP_PORT != ROLLOUT_PORT)) || fail "ROLLOUT_GROUP_PORT and ROLLOUT_PORT are both $ROLLOUT_PORT"
[[ $ROLLOUT_TIMEOUT =~ ^[1-9][0-9]*$ ]] || fail "ROLLOUT_TIMEOUT=$ROLLOUT_TIMEOUT is not a number of seconds"
[[ $STOP_GRACE =~ ^(|0|[1-9][0-9]*)$ ]] || fail "STOP_GRACE=$STOP_GRACE is not a number of seconds"
for name in TRAIN_GPUS ROLLOUT_GPUS; do  # `0,,1` or `,1` read as a GPU with no id (one comma at the end is harmless)
    [[ ${!name:-} != ,* && ${!name:-} != *,,* ]] || fail "$name=${!name} has an empty GPU id (a comma too many)"
done
[[ -f $CONFIG ]] || fail "CONFIG=$CONFIG not found"
# swift rlhf expands its first argument only with one of these endings, in lower case (swift/cli/main.py)
[[ $CONFIG =~ \.(yaml|yml|json)$ ]] || fail "CONFIG=$CONFIG: swift reads a config only from a .yaml, .yml or" \
    ".json file (in lower case); rename it"
command -v "$PYTHON" >/dev/null || fail "PYTHON=$PYTHON not found; activate the environment with ms-swift"
# An interpreter without the bundle's packages (its environment not active) stopped the script with a traceback and a
# line blaming the YAML, or an empty one
if ! missing=$("$PYTHON" -c 'import yaml, numpy, PIL, av, simplejpeg, tqdm' 2>&1); then
    fail "PYTHON=$PYTHON ($(command -v "$PYTHON")) lacks the bundle's packages (${missing##*$'\n'}); activate the" \
        "environment with ms-swift"
fi
if [[ -z $MODE ]]; then  # the YAML's use_vllm / vllm_mode decide, as they do for `swift rlhf config.yaml`
    MODE=$("$PYTHON" "$BUNDLE_DIR/train_vsi_grpo.py" --config "$CONFIG" --print mode) || fail "$MODE"
fi
for arg in "$@"; do  # train_vsi_grpo.py's own flags: the YAML reading would obey them, swift would fail on them
    if [[ $arg =~ ^--(config|mode|dry[_-]run|preflight|print|world[_-]size|vllm[_-]gpus)(=|$) ]]; then
        fail "$arg is not a swift flag: this script sets train_vsi_grpo.py's flags itself; use CONFIG=, MODE= or" \
            "DRY_RUN=1 in the environment"
    fi
done
if [[ $MODE == server ]]; then
    for arg in "$@"; do
        # a base URL replaces host and port in swift's client: the trainer would talk to another server than this one
        if [[ $arg =~ ^--vllm[_-]server[_-](host|port|group[_-]port|base[_-]url)(=|$) ]]; then
            fail "$arg: set ROLLOUT_HOST / ROLLOUT_PORT / ROLLOUT_GROUP_PORT instead, so that the server, the" \
                "trainer and the checks before the start use the same address"
        fi
        if [[ $arg =~ ^--vllm[_-]data[_-]parallel[_-]size(=|$) ]]; then  # the trainer's alone: the server's differs
            fail "$arg: the rollout server's data-parallel size is its GPUs / vllm_tensor_parallel_size; set" \
                "ROLLOUT_GPUS instead"
        fi
    done
fi

# Runs a command, or with DRY_RUN=1 prints it (words quoted only where the shell needs it) to paste as is.
run() {
    if [[ $DRY_RUN != 1 ]]; then
        "$@"
        return
    fi
    local arg words=()
    for arg in "$@"; do
        if [[ $arg =~ ^[[:alnum:]_./:=,@%+-]+$ ]]; then words+=("$arg"); else words+=("${arg@Q}"); fi
    done
    echo "${words[*]}"
}

# train_vsi_grpo.py reads the YAML for the shell: overrides in, answers out (no swift import, ~0.1 s).
resolve() {
    "$PYTHON" "$BUNDLE_DIR/train_vsi_grpo.py" --config "$CONFIG" --mode "$MODE" "$@" "${SWIFT_ARGS[@]}"
}

# resolve_items ARRAY --print WHAT ...: the NUL-ended items resolve prints into ARRAY (a value may hold newlines,
# which one item per line would split into two arguments); fails as resolve does.
resolve_items() {
    local array=$1
    shift
    mapfile -d '' -t "$array" < <(resolve "$@")
    wait $! || exit
}

# Training GPU ids on node 0 ($1 = 0) or on any other node ($1 = 1): TRAIN_GPUS when set, else every visible GPU
# but, on node 0 in server mode, ROLLOUT_GPUS (the rollout server runs there only).
train_gpus_on() {
    local gpu rest=()
    if [[ -n ${TRAIN_GPUS:-} ]]; then
        echo "$TRAIN_GPUS"
        return
    fi
    for gpu in "${VISIBLE[@]}"; do
        [[ $MODE == server && $1 == 0 && ,$ROLLOUT_GPUS, == *,$gpu,* ]] || rest+=("$gpu")
    done
    (IFS=,; echo "${rest[*]}")
}

# Fills VISIBLE with the GPU ids train_vsi_grpo.py counts (one count for both launchers). It refuses a run without
# GPUs; with --dry_run an empty list comes back instead.
read_visible_gpus() {
    local gpus_text
    gpus_text=$("$PYTHON" "$BUNDLE_DIR/train_vsi_grpo.py" --print visible_gpus "$@") ||
        fail "${gpus_text:-counting GPUs failed}"
    VISIBLE=()
    [[ -z $gpus_text ]] || mapfile -t VISIBLE <<<"$gpus_text"
}

# Fills TRAIN_GPUS / ROLLOUT_GPUS / NPROC_PER_NODE / TRAIN_WORLD_SIZE and checks they fit the visible GPUs.
plan_gpus() {
    local gpu n_visible named rollout_default='' dry_run=()
    [[ $DRY_RUN != 1 ]] || dry_run=(--dry_run)
    read_visible_gpus "${dry_run[@]}"
    if ((${#VISIBLE[@]} == 0)); then
        # A dry run on a machine without GPUs (a laptop, a login node): plan for the 8-GPU node this script is sized
        # for, plus any GPU the user named, so that the commands shown are those of the real node.
        named=${TRAIN_GPUS:-}
        [[ $MODE != server ]] || named+=,${ROLLOUT_GPUS:-}  # elsewhere no GPU rolls out: those would train
        IFS=, read -r -a named <<<"$named"
        mapfile -t VISIBLE < <(printf '%s\n' {0..7} "${named[@]}" | grep -v '^$' | sort -uV)
        log "DRY_RUN=1: no GPU visible here, so this plan assumes GPUs $(IFS=,; echo "${VISIBLE[*]}")" \
            "(0-7 and any TRAIN_GPUS / ROLLOUT_GPUS name); a real run needs them visible"
    fi
    n_visible=${#VISIBLE[@]}
    local -a train on_node0 on_others rollout=()
    if [[ $MODE == server ]]; then
        # the last 2, or the last 1 of 2 GPUs, so that one is left to train on
        local n_rollout=$((n_visible > 2 ? 2 : 1))
        [[ -n ${ROLLOUT_GPUS:-} ]] || rollout_default=" (by default the last $n_rollout visible; set ROLLOUT_GPUS)"
        ROLLOUT_GPUS=${ROLLOUT_GPUS:-$(IFS=,; echo "${VISIBLE[*]: -n_rollout}")}
        if ((NODE_RANK == 0)); then
            ((n_visible >= 2)) || fail "server mode needs 2+ GPUs (training + rollout), $n_visible visible"
            IFS=, read -r -a rollout <<<"$ROLLOUT_GPUS"
        fi
    fi
    IFS=, read -r -a on_node0 <<<"$(train_gpus_on 0)"
    IFS=, read -r -a on_others <<<"$(train_gpus_on 1)"
    TRAIN_WORLD_SIZE=$((${#on_node0[@]} + (NNODES - 1) * ${#on_others[@]}))
    if ((NODE_RANK == 0)); then train=("${on_node0[@]}"); else train=("${on_others[@]}"); fi
    TRAIN_GPUS=$(IFS=,; echo "${train[*]}")
    # only in server mode: elsewhere every visible GPU trains unless TRAIN_GPUS names some
    ((${#train[@]} > 0)) ||
        fail "no GPU is left to train on: ROLLOUT_GPUS=$ROLLOUT_GPUS takes every visible GPU (${VISIBLE[*]})"
    ((${#train[@]} + ${#rollout[@]} <= n_visible)) ||
        fail "TRAIN_GPUS (${#train[@]}) + ROLLOUT_GPUS (${#rollout[@]}) need more GPUs than the $n_visible visible"
    for gpu in "${train[@]}" "${rollout[@]}"; do
        [[ " ${VISIBLE[*]} " == *" $gpu "* ]] || fail "GPU $gpu is not visible (visible: ${VISIBLE[*]})"
    done
    local -A named_as=()  # a GPU named twice in CUDA_VISIBLE_DEVICES leaves CUDA no GPU at all
    for gpu in "${train[@]}"; do
        [[ -z ${named_as[$gpu]:-} ]] || fail "GPU $gpu is named twice in TRAIN_GPUS"
        named_as[$gpu]=TRAIN_GPUS
    done
    for gpu in "${rollout[@]}"; do
        [[ ${named_as[$gpu]:-} != TRAIN_GPUS ]] ||
            fail "GPU $gpu is in both TRAIN_GPUS and ROLLOUT_GPUS=$ROLLOUT_GPUS$rollout_default"
        [[ -z ${named_as[$gpu]:-} ]] || fail "GPU $gpu is named twice in ROLLOUT_GPUS"
        named_as[$gpu]=ROLLOUT_GPUS
    done
    # A given NPROC_PER_NODE describes node 0, so that it is the same on every node like the other variables; this
    # node then runs one process per training GPU (more than node 0 in multi-node server mode).
    [[ -z ${NPROC_PER_NODE:-} || $NPROC_PER_NODE =~ ^[1-9][0-9]*$ ]] ||
        fail "NPROC_PER_NODE=$NPROC_PER_NODE is not a number of processes (digits, no leading 0)"
    if [[ -n ${NPROC_PER_NODE:-} ]] && ((NPROC_PER_NODE != ${#on_node0[@]})); then
        local where='' why=''
        if ((NNODES > 1)); then
            where=" on node 0"
            ((${#on_others[@]} == ${#on_node0[@]})) ||
                why=" (NPROC_PER_NODE counts node 0's training processes; the other nodes train on ${#on_others[@]})"
        fi
        fail "NPROC_PER_NODE=$NPROC_PER_NODE but TRAIN_GPUS=$(IFS=,; echo "${on_node0[*]}")$where has" \
            "${#on_node0[@]} GPUs$why; make them match or leave NPROC_PER_NODE unset"
    fi
    NPROC_PER_NODE=${#train[@]}
    N_ROLLOUT_GPUS=${#rollout[@]}
}

# The pids of processes that an earlier run of this script started (training or the rollout server, by their mark:
# VSI_GRPO_TRAINING / VSI_GRPO_ROLLOUT = <script pid>-<random>) and that outlived it: its script no longer runs. A
# SIGKILL of the script runs no cleanup, and what it left may hold the GPUs this run needs (out of memory, minutes in).
leftover_processes() {
    local files file entry pid own_ns fields
    own_ns=$(readlink /proc/$$/ns/pid 2>/dev/null) || own_ns=
    mapfile -t files < <(grep -lzE '^VSI_GRPO_(TRAINING|ROLLOUT)=' /proc/[0-9]*/environ 2>/dev/null || true)
    for file in "${files[@]}"; do
        pid=${file#/proc/}
        pid=${pid%/environ}
        # a mark names a pid of the process's own pid namespace: one in another (a container's) is not checkable here
        [[ -z $own_ns || $(readlink "/proc/$pid/ns/pid" 2>/dev/null) == "$own_ns" ]] || continue
        # || true: a process that exited since grep listed it must not end the scan (set -e holds in `< <(...)`)
        while IFS= read -r -d '' entry; do  # the environment's NUL-separated entries
            if [[ $entry =~ ^VSI_GRPO_(TRAINING|ROLLOUT)=([0-9]+)- ]]; then
                # gone, or a zombie its parent never reaped
                if ! proc_stat "${BASH_REMATCH[2]}" fields || [[ ${fields[0]} == Z ]]; then echo "$pid"; fi
                break
            fi
        done 2>/dev/null <"$file" || true
    done
}

preflight() {
    [[ $MODE =~ ^(colocate|server|local)$ ]] || fail "MODE=$MODE is not one of colocate, server, local"
    local leftovers=()
    mapfile -t leftovers < <(leftover_processes)
    ((${#leftovers[@]} == 0)) || log "warning: process(es) ${leftovers[*]} of an earlier run still run, its script" \
        "gone (killed with SIGKILL, which runs no cleanup); they may hold GPUs this run needs: kill ${leftovers[*]}"
    [[ $NNODES =~ ^[1-9][0-9]*$ && $NODE_RANK =~ ^(0|[1-9][0-9]*)$ ]] || fail "NNODES / NODE_RANK must be integers"
    ((NODE_RANK < NNODES)) || fail "NODE_RANK=$NODE_RANK must be below NNODES=$NNODES"
    ((NNODES == 1)) || [[ -n ${MASTER_ADDR:-} ]] || fail "NNODES=$NNODES needs MASTER_ADDR (node 0's address)"
    local item key yaml_address=()
    if [[ $MODE == server ]]; then
        # swift would point the trainer at the YAML's address, not at the server started here (a flag saying
        # ROLLOUT_HOST replaced it without a word): they must agree
        local -A variable_of=([vllm_server_host]=ROLLOUT_HOST [vllm_server_port]=ROLLOUT_PORT
            [vllm_server_group_port]=ROLLOUT_GROUP_PORT)
        resolve_items yaml_address --print yaml_server_address
        for item in "${yaml_address[@]}"; do
            [[ ${item%%=*} != vllm_server_base_url ]] || fail "$CONFIG sets vllm_server_base_url ${item#*=}, which" \
                "swift's trainer would connect to instead of the rollout server this script starts at" \
                "ROLLOUT_HOST:ROLLOUT_PORT ($ROLLOUT_HOST:$ROLLOUT_PORT): delete the key (set those variables instead)"
            key=${variable_of[${item%%=*}]}
            [[ ${item#*=} == "${!key}" ]] || fail "$CONFIG sets ${item%%=*} ${item#*=}, but this script starts the" \
                "rollout server at $key=${!key} and points the trainer there: set $key=${item#*=}, or delete the key"
        done
    fi
    if [[ $MODE == server ]] && ((NNODES > 1)); then  # node 0 hosts both; other nodes would wait on the server
        local master_port=${MASTER_PORT:-29500}
        [[ $master_port != "$ROLLOUT_PORT" && $master_port != "$ROLLOUT_GROUP_PORT" ]] ||
            fail "MASTER_PORT=$master_port is also a rollout port (ROLLOUT_PORT=$ROLLOUT_PORT," \
                "ROLLOUT_GROUP_PORT=$ROLLOUT_GROUP_PORT); torchrun's rendezvous needs its own"
    fi
    local vllm_gpus=()
    if [[ $MODE == local ]]; then
        ((NNODES == 1)) || fail "MODE=local trains in one process on one node, not NNODES=$NNODES"
        [[ -z ${NPROC_PER_NODE:-} || $NPROC_PER_NODE == 1 ]] ||
            fail "NPROC_PER_NODE=$NPROC_PER_NODE: MODE=local trains in one process (on the TRAIN_GPUS it sees);" \
                "unset it"
        local gpu listed=()
        local -A named=()  # a GPU named twice in CUDA_VISIBLE_DEVICES leaves CUDA no GPU at all
        IFS=, read -r -a listed <<<"${TRAIN_GPUS:-}"
        # one not visible would leave the process no GPU (MODE=local runs without GPUs: none is no refusal here)
        ((${#listed[@]} == 0)) || [[ $DRY_RUN == 1 ]] || read_visible_gpus --dry_run
        for gpu in "${listed[@]}"; do
            [[ -n $gpu ]] || continue
            [[ -z ${named[$gpu]:-} ]] || fail "GPU $gpu is named twice in TRAIN_GPUS"
            named[$gpu]=1
            [[ $DRY_RUN == 1 || " ${VISIBLE[*]} " == *" $gpu "* ]] ||
                fail "GPU $gpu is not visible (visible: ${VISIBLE[*]:-none})"
        done
        NPROC_PER_NODE=1 TRAIN_WORLD_SIZE=1
    else
        if ! command -v "$SWIFT" >/dev/null; then
            local venv=$BUNDLE_DIR/.venv
            venv=${venv#./}
            # The usual cause is the project's environment, installed but not active: installing again would not help.
            [[ ! -x $venv/bin/swift ]] || fail "SWIFT=$SWIFT not found; activate the project's environment:" \
                "source $venv/bin/activate"
            fail "SWIFT=$SWIFT not found; on a GPU node pip install -r requirements.txt (on CPU: make venv, then" \
                "source .venv/bin/activate)"
        fi
        plan_gpus
        if [[ $MODE == colocate ]]; then
            # swift rlhf reads the YAML as it is (local mode's train_vsi_grpo.py drops these keys), and its arguments
            # connect to a server named there in every mode
            resolve_items yaml_address --print yaml_server_address
            if ((${#yaml_address[@]})); then
                item=${yaml_address[0]}
                fail "$CONFIG sets ${item%%=*} ${item#*=}, a rollout server, which MODE=colocate does not use:" \
                    "swift's trainer would wait for it (240 s, then fail); delete the key, or run MODE=server"
            fi
            vllm_gpus=(--vllm_gpus "$NPROC_PER_NODE")  # each rank hosts an engine; TP groups stay within a node
        elif ((NODE_RANK == 0)); then
            vllm_gpus=(--vllm_gpus "$N_ROLLOUT_GPUS")
        fi
    fi
    if [[ $MODE == server && $NODE_RANK == 0 ]]; then
        command -v setsid >/dev/null || fail "setsid not found (util-linux); it lets this script stop the server"
        # swift rollout silently moves to the next free port, so a busy one would connect us to another server; a
        # busy group port fails the weight sync only once the model has loaded on both sides. SO_REUSEADDR, as the
        # servers bind: the TIME_WAIT a run's own /health checks leave refused an immediate rerun for a minute.
        local name port
        local probe='import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(sys.argv[1])))'
        for name in ROLLOUT_PORT ROLLOUT_GROUP_PORT; do
            port=${!name}
            "$PYTHON" -c "$probe" "$port" 2>/dev/null ||
                fail "$name=$port is in use (an old swift rollout?); stop the server, or pick another port"
        done
    fi
    local problems dry=()
    [[ $DRY_RUN != 1 ]] || dry=(--dry_run)  # a dry run converts no dataset
    if ! problems=$(resolve --preflight "${dry[@]}" --world_size "$TRAIN_WORLD_SIZE" "${vllm_gpus[@]}"); then
        [[ -n $problems ]] || fail "reading $CONFIG failed (see above)"
        while IFS= read -r line; do log "$line"; done <<<"$problems"
        exit 1
    fi
    [[ $DRY_RUN != 1 ]] || log "${problems#*; }"  # the pass line's step: completions and questions per optimizer step
}

start_rollout() {
    resolve_items ROLLOUT_ARGS --print rollout_args --vllm_gpus "$N_ROLLOUT_GPUS"
    ROLLOUT_LOG=${ROLLOUT_LOG:-$(resolve --print output_dir)/rollout.log}
    [[ ! -d $ROLLOUT_LOG ]] || fail "ROLLOUT_LOG=$ROLLOUT_LOG is a folder; name the file the server's output goes to"
    # setsid: the server gets its own process group, so stop_rollout can end vLLM's worker processes too.
    local command=(env CUDA_VISIBLE_DEVICES="$ROLLOUT_GPUS" "${RUN_ENV[@]}"
        setsid "$SWIFT" rollout "${ROLLOUT_ARGS[@]}")
    if [[ $DRY_RUN == 1 ]]; then
        log "would start swift rollout on GPU(s) $ROLLOUT_GPUS, output in $ROLLOUT_LOG"
        echo "# in the background, output to $ROLLOUT_LOG; training starts once it answers on /health:"
        run "${command[@]}"
        return
    fi
    log "starting swift rollout on GPU(s) $ROLLOUT_GPUS, output in $ROLLOUT_LOG"
    mkdir -p "$(dirname "$ROLLOUT_LOG")"
    # appended: an earlier run's output (which its error message pointed to) stays, below its own header
    echo "=== run_vsi_grpo.sh $(date '+%F %T'): swift rollout ${ROLLOUT_ARGS[*]}" >>"$ROLLOUT_LOG"
    # a signal right after the fork runs the trap before ROLLOUT_PID=$! does (term_rollout)
    ROLLOUT_BEFORE=${!:-} ROLLOUT_STARTING=1
    VSI_GRPO_ROLLOUT=$TRAIN_MARK "${command[@]}" >>"$ROLLOUT_LOG" 2>&1 &
    ROLLOUT_PID=$!
}

wait_for_rollout() {
    # /health is the route swift's rollout server (swift/pipelines/infer/rollout.py) answers once vLLM is up.
    local url="http://$ROLLOUT_HOST:$ROLLOUT_PORT/health" deadline=$((SECONDS + ROLLOUT_TIMEOUT)) status=0
    [[ $DRY_RUN == 1 ]] && return
    log "waiting up to ${ROLLOUT_TIMEOUT}s for $url"
    until "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$url" \
        2>/dev/null; do
        if ! kill -0 "$ROLLOUT_PID" 2>/dev/null; then
            wait "$ROLLOUT_PID" || status=$?  # its group may live on (vLLM workers): stop_rollout ends it
            tail -n 20 "$ROLLOUT_LOG" >&2 || true
            fail "swift rollout exited with status $status before it was ready; full output in $ROLLOUT_LOG"
        fi
        ((SECONDS < deadline)) ||
            fail "swift rollout was not ready at $url after ${ROLLOUT_TIMEOUT}s; output in $ROLLOUT_LOG"
        sleep 1
    done
    log "swift rollout is ready"
}

# Server mode, nodes other than 0: node 0 starts training (and torchrun's rendezvous on MASTER_PORT) only once its
# rollout server is ready, which can take longer than torchrun's 600 s static-rendezvous timeout on the other nodes
# (torch/distributed/elastic/rendezvous/static_tcp_rendezvous.py). So they wait for that port first, as long as
# node 0 may wait for its server, and a little more.
wait_for_master() {
    local deadline=$((SECONDS + ROLLOUT_TIMEOUT + 120))
    if [[ $DRY_RUN == 1 ]]; then
        echo "# first waits until node 0 starts training ($MASTER_ADDR:$MASTER_PORT answers), after its rollout server"
        return
    fi
    log "waiting up to $((ROLLOUT_TIMEOUT + 120))s for node 0 to start training ($MASTER_ADDR:$MASTER_PORT)"
    local probe='import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()'
    until "$PYTHON" -c "$probe" "$MASTER_ADDR" "$MASTER_PORT" 2>/dev/null; do
        ((SECONDS < deadline)) || fail "node 0 did not start training at $MASTER_ADDR:$MASTER_PORT within" \
            "$((ROLLOUT_TIMEOUT + 120))s (it starts once its rollout server is ready: see rollout.log on node 0)"
        sleep 2
    done
    log "node 0 is training; joining"
}

# Training runs in the background and the script waits for it. In the foreground, bash would run a trap only once
# training had returned: a TERM sent to the script alone (`kill PID`, a container's PID 1, a batch scheduler) waited
# for the whole run. Training stays in the script's process group, so whatever signals that group (Ctrl-C,
# `kill -9 -PGID`) still reaches it directly.
train() {
    if [[ $DRY_RUN == 1 ]]; then
        run "$@"
        return
    fi
    local status=0
    TRAIN_STARTING=1
    # stdin passed on: a background job's would be /dev/null (no breakpoint(), no prompt of a logger's login)
    VSI_GRPO_TRAINING=$TRAIN_MARK "$@" <&0 &
    TRAIN_PID=$!
    wait "$TRAIN_PID" || status=$?
    TRAIN_STARTING=
    TRAIN_PID=
    return "$status"
}

# The fields of /proc/$1/stat after the command name (which may hold spaces and parentheses) into the array named $2:
# [0] the state, [1] the parent's pid, [19] start (field 22), the clock tick the process started at, which tells it
# from a later process the kernel gives the same pid once it has ended (pids wrap around). Fails for a process gone.
proc_stat() {
    local line
    local -n stat_fields=$2
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    # shellcheck disable=SC2034 # stat_fields names the caller's array
    read -r -a stat_fields <<<"${line##*) }"
}

# $1 and every process below it (swift's CLI, torchrun, its workers, vLLM's engine processes), read from /proc (slim
# images have no pgrep), as `pid:start` (proc_stat).
process_tree() {
    local stat fields pid queue=("$1") i=0
    local -A children=() started=()
    for stat in /proc/[0-9]*/stat; do
        pid=${stat#/proc/}
        pid=${pid%/stat}
        proc_stat "$pid" fields || continue
        children[${fields[1]}]+=" $pid"
        started[$pid]=${fields[19]}
    done
    while ((i < ${#queue[@]})); do
        for pid in ${children[${queue[i]}]:-}; do queue+=("$pid"); done
        i=$((i + 1))
    done
    for pid in "${queue[@]}"; do
        if [[ -n ${started[$pid]:-} ]]; then echo "$pid:${started[$pid]}"; fi
    done
}

# The pids of those `pid:start` processes that still run: a zombie has ended (training's own stays one until `wait`
# reaps it), and a pid with another start time belongs to a process started since, not ours to signal.
still_running() {
    local entry fields
    for entry; do
        proc_stat "${entry%:*}" fields || continue
        if [[ ${fields[0]} != Z && ${fields[19]} == "${entry#*:}" ]]; then echo "${entry%:*}"; fi
    done
}

# `pid:start` of each process that runs with training's mark in its environment (TRAIN_MARK, inherited by everything
# training starts): when training's top process dies (the OOM killer took swift's CLI or torchrun), its workers are
# handed to init, out of process_tree's reach, and went on holding their GPUs.
marked_processes() {
    local files file pid fields
    mapfile -t files < <(grep -lzxF "VSI_GRPO_TRAINING=$TRAIN_MARK" /proc/[0-9]*/environ 2>/dev/null || true)
    for file in "${files[@]}"; do
        pid=${file#/proc/}
        pid=${pid%/environ}
        if proc_stat "$pid" fields; then echo "$pid:${fields[19]}"; fi
    done
}

# Runs on every exit before stop_rollout: when training still runs (the script was interrupted), TERM to training
# and every process below it (torchrun also passes it on to its workers), KILL after STOP_GRACE (60 s); and to any
# process training left running after it ended (marked_processes). A background job ignores SIGINT, so this is also
# how Ctrl-C stops training started without torchrun (MODE=local).
stop_training() {
    # A signal right after the fork runs the trap before TRAIN_PID=$! does: $! names training then.
    if [[ -z $TRAIN_PID && -n $TRAIN_STARTING && ${!:-} != "$ROLLOUT_PID" ]]; then
        TRAIN_PID=${!:-}
    fi
    local procs=() pids entry
    [[ -z $TRAIN_PID ]] || mapfile -t procs < <(process_tree "$TRAIN_PID")
    for entry in $(marked_processes); do
        [[ " ${procs[*]} " == *" $entry "* ]] || procs+=("$entry")
    done
    ((${#procs[@]})) || return 0
    if [[ -n $TRAIN_PID ]]; then
        log "stopping training (processes ${procs[*]%:*})"
    else
        log "stopping the processes training left running (${procs[*]%:*})"
    fi
    kill -TERM "${procs[@]%:*}" 2>/dev/null || true
    local checks=$((${STOP_GRACE:-60} * 5)) i
    for ((i = 0; i < checks; i++)); do
        mapfile -t pids < <(still_running "${procs[@]}")
        ((${#pids[@]})) || break
        sleep 0.2
    done
    mapfile -t pids < <(still_running "${procs[@]}")
    ((${#pids[@]} == 0)) || kill -KILL "${pids[@]}" 2>/dev/null || true
    [[ -z $TRAIN_PID ]] || wait "$TRAIN_PID" 2>/dev/null || true
    TRAIN_PID=
}

# TERM to the server's process group, and to the process itself: in its first moments it has not called setsid yet,
# so there is no group. A signal between the fork and ROLLOUT_PID=$! left the server running: $! names it then.
term_rollout() {
    if [[ -z $ROLLOUT_PID && -n $ROLLOUT_STARTING && ${!:-} != "$ROLLOUT_BEFORE" ]]; then
        ROLLOUT_PID=${!:-}
    fi
    [[ -n $ROLLOUT_PID ]] || return 0
    kill -TERM -- "-$ROLLOUT_PID" "$ROLLOUT_PID" 2>/dev/null || true
}

# Runs on every exit (done, failed, Ctrl-C): term_rollout, KILL after STOP_GRACE (30 s).
stop_rollout() {
    term_rollout
    [[ -n $ROLLOUT_PID ]] || return 0
    log "stopping swift rollout (process group $ROLLOUT_PID)"
    local checks=$((${STOP_GRACE:-30} * 5)) i
    for ((i = 0; i < checks; i++)); do
        kill -0 -- "-$ROLLOUT_PID" 2>/dev/null || kill -0 "$ROLLOUT_PID" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL -- "-$ROLLOUT_PID" "$ROLLOUT_PID" 2>/dev/null || true
    wait "$ROLLOUT_PID" 2>/dev/null || true
    ROLLOUT_PID=
}

SWIFT_ARGS=()  # overrides the launcher adds, then the user's own flags (which win)
[[ -n ${MODEL:-} ]] && SWIFT_ARGS+=(--model "$MODEL")
[[ -n ${DATASET:-} ]] && SWIFT_ARGS+=(--dataset "$DATASET")
[[ -n ${OUTPUT_DIR:-} ]] && SWIFT_ARGS+=(--output_dir "$OUTPUT_DIR")
if [[ $MODE == server ]]; then
    SWIFT_ARGS+=(--vllm_server_host "$ROLLOUT_HOST" --vllm_server_port "$ROLLOUT_PORT")
    SWIFT_ARGS+=(--vllm_server_group_port "$ROLLOUT_GROUP_PORT")
fi
SWIFT_ARGS+=("$@")

preflight
resolve_items RUN_ENV --print env  # the YAML's ENV block and ROOT_IMAGE_DIR, for training and rollout alike
# The mode's settings (use_vllm, vllm_mode) that no flag sets: whatever the YAML says, MODE decides, as in the
# preflight and in train_vsi_grpo.py.
resolve_items MODE_ARGS --print mode_args

# While the exit stops training and the server, a second Ctrl-C (or any signal) must not cut the KILLs short, and a
# stderr that is gone (SIGPIPE) must not end it. The server gets its TERM first, at once: a scheduler's SIGKILL
# after a grace shorter than training's stop (Kubernetes' 30 s; torchrun alone can take that) came before the
# server's TERM, and the server, in a session of its own, went on holding its GPUs and port.
trap 'trap "" PIPE INT TERM HUP QUIT; term_rollout; stop_training; stop_rollout' EXIT
trap 'exit 130' INT
trap 'exit 131' QUIT  # Ctrl-\: a background job ignores it, as it does SIGINT
trap 'exit 143' TERM
trap 'exit 129' HUP
if [[ $MODE == local ]]; then
    # swift's CLI cannot drop the YAML's vllm_mode, which swift rejects without vLLM: train_vsi_grpo.py can.
    LOCAL_ENV=(NPROC_PER_NODE=1)
    [[ -z ${TRAIN_GPUS:-} ]] || LOCAL_ENV+=(CUDA_VISIBLE_DEVICES="$TRAIN_GPUS")  # else swift's device_map: all of them
    train env "${LOCAL_ENV[@]}" "${RUN_ENV[@]}" \
        "$PYTHON" "$BUNDLE_DIR/train_vsi_grpo.py" --config "$CONFIG" --mode local "${SWIFT_ARGS[@]}"
else
    DIST_ENV=(CUDA_VISIBLE_DEVICES="$TRAIN_GPUS" NPROC_PER_NODE="$NPROC_PER_NODE")
    if ((NNODES > 1)); then
        DIST_ENV+=(NNODES="$NNODES" NODE_RANK="$NODE_RANK" MASTER_ADDR="$MASTER_ADDR")
        MASTER_PORT=${MASTER_PORT:-29500}
        DIST_ENV+=(MASTER_PORT="$MASTER_PORT")
    fi
    if [[ $MODE == server && $NODE_RANK == 0 ]]; then
        start_rollout
        wait_for_rollout
    elif [[ $MODE == server ]]; then
        wait_for_master
    fi
    [[ $DRY_RUN == 1 ]] && echo "# training:"
    train env "${DIST_ENV[@]}" "${RUN_ENV[@]}" "$SWIFT" rlhf "$CONFIG" "${MODE_ARGS[@]}" "${SWIFT_ARGS[@]}"
fi
