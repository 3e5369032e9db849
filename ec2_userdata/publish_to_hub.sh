#!/usr/bin/env bash
# Publishes a run's adapter or merged model to the Hugging Face Hub; called by the PublishToHub document.
#
#   publish_to_hub.sh RUN_ID REPO_ID adapter|merged true|false(private)
#
# The token is read from Secrets Manager at run time into a file only root can read, passed to the Hub
# client through HF_TOKEN_PATH, and deleted on exit: it never appears in a parameter, command line or log.
set -euo pipefail
# shellcheck source=/dev/null
source "${MODELSMITH_ENV_FILE:-/etc/modelsmith/modelsmith.env}"

RUN_ID="${1:?run ID}"; REPO_ID="${2:?repository ID}"; WHAT="${3:?adapter or merged}"; PRIVATE="${4:-true}"
[[ "$RUN_ID" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$ ]] || { echo "invalid run ID '${RUN_ID}'" >&2; exit 2; }
[[ "$REPO_ID" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9._-]+$ ]] || { echo "invalid repository '${REPO_ID}'" >&2; exit 2; }
[[ "$WHAT" == adapter || "$WHAT" == merged ]] || { echo "publish adapter or merged, not '${WHAT}'" >&2; exit 2; }

folder="${CHECKPOINT_MOUNT}/runs/${RUN_ID}/output/model/${WHAT}"
[[ -d "$folder" ]] || { echo "nothing to publish: ${folder} does not exist" >&2; exit 3; }

# shellcheck source=ec2_userdata/training_image.sh
source "$(dirname "${BASH_SOURCE[0]}")/training_image.sh"
pull_training_image
# shellcheck source=ec2_userdata/hf_token.sh
source "$(dirname "${BASH_SOURCE[0]}")/hf_token.sh"
token_file="$(hf_token_file "$CONTAINER_USER")"
trap 'rm -f "$token_file"' EXIT

docker run --rm --user "$CONTAINER_USER" -e HF_TOKEN_PATH=/run/hf-token -v "${token_file}:/run/hf-token:ro" -v "${folder}:/publish:ro" \
  "${TRAINING_IMAGE_URI}" \
  python -c 'import sys; from huggingface_hub import HfApi; api = HfApi(); api.create_repo(sys.argv[1], private=sys.argv[2] == "true", exist_ok=True); print(api.upload_folder(repo_id=sys.argv[1], folder_path="/publish"))' \
  "$REPO_ID" "$PRIVATE"
echo "published ${WHAT} of ${RUN_ID} to ${REPO_ID}"
