#!/usr/bin/env bash
# Runs one LoRA/QLoRA fine-tune on this instance; called by the RunFineTune SSM document.
#
#   run_finetune.sh RUN_ID CONFIG_S3_URI TRAIN_S3_URI BASE_MODEL [VALIDATION_S3_URI]
#
# Inputs are copied to $CHECKPOINT_MOUNT/runs/RUN_ID/input; checkpoints go to .../checkpoints (on the EBS
# volume, so a restarted run resumes from the newest complete one); the adapter, merged model and
# metrics.json go to .../output/model, logs and evaluation details to .../output/data; archive_run.sh
# uploads .../output.
set -euo pipefail
# shellcheck source=/dev/null
source "${MODELSMITH_ENV_FILE:-/etc/modelsmith/modelsmith.env}"

RUN_ID="${1:?run ID}"; CONFIG_URI="${2:?config S3 URI}"; TRAIN_URI="${3:?training data S3 URI}"
BASE_MODEL="${4:?base model}"; VALIDATION_URI="${5:-}"
[[ "$RUN_ID" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$ ]] || { echo "invalid run ID '${RUN_ID}'" >&2; exit 2; }

run_dir="${CHECKPOINT_MOUNT}/runs/${RUN_ID}"
mkdir -p "${run_dir}/input" "${run_dir}/checkpoints" "${run_dir}/output/model" "${run_dir}/output/data" /var/log/modelsmith
exec > >(tee -a "/var/log/modelsmith/${RUN_ID}.log") 2>&1

aws s3 cp --only-show-errors "$CONFIG_URI" "${run_dir}/input/training_config.yml"
aws s3 cp --only-show-errors "$TRAIN_URI" "${run_dir}/input/train.jsonl"
validation_args=()
if [[ -n "$VALIDATION_URI" ]]; then
  aws s3 cp --only-show-errors "$VALIDATION_URI" "${run_dir}/input/validation.jsonl"
  validation_args=(--validation_file /data/input/validation.jsonl)
fi

# shellcheck source=ec2_userdata/training_image.sh
source "$(dirname "${BASH_SOURCE[0]}")/training_image.sh"
pull_training_image
# The container runs as the image's own user: it must own the run folder (written by root above, or by an earlier
# attempt of this run) and the Hub cache it shares with other runs.
mkdir -p "${CHECKPOINT_MOUNT}/hf-cache"
give_to_container "$run_dir" "${CHECKPOINT_MOUNT}/hf-cache"

# Gated base models (Meta Llama) need the Hub token to download; it reaches the container only as a file.
# shellcheck source=ec2_userdata/hf_token.sh
source "$(dirname "${BASH_SOURCE[0]}")/hf_token.sh"
token_file="$(hf_token_file "$CONTAINER_USER")"
trap 'rm -f "$token_file"' EXIT

# Exit code 75: interrupted (SIGTERM) after saving a checkpoint; the next run of this RUN_ID resumes from it.
docker run --rm --gpus all --shm-size 16g --user "$CONTAINER_USER" \
  -e HF_HOME=/data/hf-cache -e HF_TOKEN_PATH=/run/hf-token -v "${token_file}:/run/hf-token:ro" \
  -v "${run_dir}:/data" -v "${CHECKPOINT_MOUNT}/hf-cache:/data/hf-cache" \
  "${TRAINING_IMAGE_URI}" \
  python -m sagemaker_src.llm_lora train \
    --config /data/input/training_config.yml \
    --train_file /data/input/train.jsonl "${validation_args[@]}" \
    --model_name_or_path "$BASE_MODEL" \
    --model_dir /data/output/model --output_data_dir /data/output/data --checkpoint_dir /data/checkpoints
echo "fine-tune ${RUN_ID} finished"
