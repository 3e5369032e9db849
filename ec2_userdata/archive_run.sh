#!/usr/bin/env bash
# Uploads what a run produced to s3://$ARTIFACTS_BUCKET/runs/RUN_ID/; called by the ArchiveRun document.
# Safe after a failed run: it uploads whatever exists (output, logs) and never deletes anything in S3.
#
#   archive_run.sh RUN_ID
set -euo pipefail
# shellcheck source=/dev/null
source "${MODELSMITH_ENV_FILE:-/etc/modelsmith/modelsmith.env}"

RUN_ID="${1:?run ID}"
[[ "$RUN_ID" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$ ]] || { echo "invalid run ID '${RUN_ID}'" >&2; exit 2; }
run_dir="${CHECKPOINT_MOUNT}/runs/${RUN_ID}"
destination="s3://${ARTIFACTS_BUCKET}/runs/${RUN_ID}"

if [[ -d "${run_dir}/output" ]]; then
  aws s3 sync --only-show-errors "${run_dir}/output" "${destination}/output"
else
  echo "no output for ${RUN_ID} (the run failed before writing any)"
fi
if [[ -f "/var/log/modelsmith/${RUN_ID}.log" ]]; then
  aws s3 cp --only-show-errors "/var/log/modelsmith/${RUN_ID}.log" "${destination}/logs/fine-tune.log"
fi
echo "archived ${RUN_ID} to ${destination}"
