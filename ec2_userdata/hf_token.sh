#!/usr/bin/env bash
# Sourced by the job scripts: hf_token_file reads the Hugging Face token from Secrets Manager into a file
# only root can read and prints its path; the caller mounts it into the container as HF_TOKEN_PATH and
# deletes it on exit. The token never appears in a parameter, a command line or a log.
set -euo pipefail

hf_token_file() {
  local file
  file="$(mktemp)"
  chmod 600 "$file"
  aws secretsmanager get-secret-value --secret-id "$HF_TOKEN_SECRET_ARN" --query SecretString --output text > "$file"
  printf '%s\n' "$file"
}
