#!/usr/bin/env bash
# Sourced by the job scripts and setup_instance.sh: the training image and the user its container runs as.
#
# pull_training_image logs in to ECR with a fresh token (a token lasts 12 hours, so one from the first boot is
# long gone by the next job) and pulls $TRAINING_IMAGE_URI, so every job runs the newest `latest` pushed.
# CONTAINER_USER is the uid:gid the image's `trainer` user has (sagemaker_src/Dockerfile: useradd --uid 1000);
# jobs run the container as it and hand it their run folder, cache and token file.
set -euo pipefail

CONTAINER_USER="${TRAINING_CONTAINER_USER:-1000:1000}"

pull_training_image() {
  : "${TRAINING_IMAGE_URI:?set in the environment file}" "${AWS_REGION:?set in the environment file}"
  local registry="${TRAINING_IMAGE_URI%%/*}"
  aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "$registry" >/dev/null
  docker pull --quiet "$TRAINING_IMAGE_URI" >/dev/null
}

# give_to_container PATH...: the container user owns these (run folders created by root over SSM, the shared cache).
give_to_container() {
  chown -R "$CONTAINER_USER" "$@"
}
