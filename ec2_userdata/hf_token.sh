#!/usr/bin/env bash
# Sourced by the job scripts: hf_token_file OWNER reads the Hugging Face token from Secrets Manager into a file
# only OWNER (uid:gid, the container's user) can read and prints its path; the caller mounts it into the container
# as HF_TOKEN_PATH and deletes it on exit. The token never appears in a parameter, a command line or a log.
set -euo pipefail

hf_token_file() {
  local owner="${1:?owner uid:gid}" file
  file="$(mktemp)"
  chmod 600 "$file"
  aws secretsmanager get-secret-value --secret-id "$HF_TOKEN_SECRET_ARN" --query SecretString --output text > "$file"
  chown "$owner" "$file"
  chmod 400 "$file"
  printf '%s\n' "$file"
}
