#!/usr/bin/env bash
# Prepares the GPU training instance; run by user data at every boot, safe to run again.
#
#   setup_instance.sh --volume-id vol-0123... --env-file /etc/modelsmith/modelsmith.env
#
# 1. finds the checkpoint volume by its NVMe serial (the volume ID without its dash), waiting for the
#    attachment; formats it (XFS) only if it holds no filesystem; mounts it at $CHECKPOINT_MOUNT with a
#    single `nofail` fstab entry keyed by UUID;
# 2. writes the CloudWatch agent configuration (GPU, CPU, memory, disk metrics; this script's and the
#    jobs' logs to $LOG_GROUP) and (re)starts the agent;
# 3. installs the job scripts in /opt/modelsmith/bin and pulls the training image when one is configured.
#
# Paths and commands can be redirected for tests: MODELSMITH_ROOT prefixes every system path; the commands
# used (blkid, mkfs.xfs, mount, mountpoint, ...) are looked up on PATH.
set -euo pipefail

ROOT="${MODELSMITH_ROOT:-}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VOLUME_ID=""
ENV_FILE="${ROOT}/etc/modelsmith/modelsmith.env"
DEVICE_WAIT_SECONDS="${DEVICE_WAIT_SECONDS:-300}"

log() { printf '%s setup_instance: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
die() { log "ERROR: $*"; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --volume-id) VOLUME_ID="$2"; shift 2 ;;
    --env-file) ENV_FILE="$2"; shift 2 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ "$VOLUME_ID" =~ ^vol-[0-9a-f]{8,17}$ ]] || die "--volume-id must look like vol-0123456789abcdef0, got '${VOLUME_ID}'"
[[ -r "$ENV_FILE" ]] || die "environment file ${ENV_FILE} is missing"
# shellcheck source=/dev/null
source "$ENV_FILE"
: "${CHECKPOINT_MOUNT:?set in the environment file}" "${LOG_GROUP:?set in the environment file}"

# 1. The checkpoint volume -------------------------------------------------------------------------------
find_device() {
  # Nitro instances expose EBS volumes as NVMe devices whose serial is the volume ID without the dash.
  local serial="${VOLUME_ID/-/}" link
  for link in "${ROOT}/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${serial}" \
              "${ROOT}/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${serial}_1"; do
    if [[ -e "$link" ]]; then
      readlink -f "$link"
      return 0
    fi
  done
  return 1
}

device=""
for ((waited = 0; waited <= DEVICE_WAIT_SECONDS; waited += 5)); do
  if device="$(find_device)"; then break; fi
  log "waiting for ${VOLUME_ID} to be attached (${waited}s)"
  sleep 5
done
[[ -n "$device" ]] || die "checkpoint volume ${VOLUME_ID} did not appear within ${DEVICE_WAIT_SECONDS}s"
log "checkpoint volume ${VOLUME_ID} is ${device}"

if blkid -o value -s TYPE "$device" >/dev/null 2>&1; then
  log "${device} already has a filesystem; not formatting"
else
  log "formatting ${device} (XFS)"
  mkfs.xfs -q -L checkpoints "$device"
fi
uuid="$(blkid -o value -s UUID "$device")"
[[ -n "$uuid" ]] || die "no filesystem UUID on ${device}"

mkdir -p "${ROOT}${CHECKPOINT_MOUNT}"
fstab="${ROOT}/etc/fstab"
touch "$fstab"
entry="UUID=${uuid} ${CHECKPOINT_MOUNT} xfs defaults,nofail,noatime 0 2"
if ! grep -qF "$entry" "$fstab"; then
  # Drop any older entry for this mount point (a replaced volume), then add ours once.
  grep -vE "[[:space:]]${CHECKPOINT_MOUNT}[[:space:]]" "$fstab" > "${fstab}.modelsmith" || true
  printf '%s\n' "$entry" >> "${fstab}.modelsmith"
  mv "${fstab}.modelsmith" "$fstab"
  log "fstab entry written for ${CHECKPOINT_MOUNT}"
fi
if mountpoint -q "${ROOT}${CHECKPOINT_MOUNT}"; then
  log "${CHECKPOINT_MOUNT} already mounted"
else
  mount "${ROOT}${CHECKPOINT_MOUNT}"
fi
mkdir -p "${ROOT}${CHECKPOINT_MOUNT}/runs"

# 2. CloudWatch agent --------------------------------------------------------------------------------------
agent_config="${ROOT}/opt/aws/amazon-cloudwatch-agent/etc/modelsmith.json"
mkdir -p "$(dirname "$agent_config")" "${ROOT}/var/log/modelsmith"
cat > "$agent_config" <<JSON
{
  "agent": {"metrics_collection_interval": 60, "run_as_user": "root"},
  "metrics": {
    "namespace": "CWAgent",
    "append_dimensions": {"InstanceId": "\${aws:InstanceId}"},
    "aggregation_dimensions": [["InstanceId"]],
    "metrics_collected": {
      "nvidia_gpu": {"measurement": ["utilization_gpu", "memory_used", "memory_total", "temperature_gpu", "power_draw"]},
      "cpu": {"measurement": ["usage_active"], "totalcpu": true},
      "mem": {"measurement": ["used_percent"]},
      "disk": {"measurement": ["used_percent"], "resources": ["/", "${CHECKPOINT_MOUNT}"]}
    }
  },
  "logs": {
    "logs_collected": {"files": {"collect_list": [
      {"file_path": "/var/log/modelsmith/*.log", "log_group_name": "${LOG_GROUP}", "log_stream_name": "{instance_id}"}
    ]}}
  }
}
JSON
if command -v amazon-cloudwatch-agent-ctl >/dev/null 2>&1; then
  amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c "file:${agent_config}"
else
  log "amazon-cloudwatch-agent-ctl not found; metrics and logs are not shipped (install the agent in the AMI)"
fi

# 3. Job scripts and training image -------------------------------------------------------------------------
install -d "${ROOT}/opt/modelsmith/bin"
for script in run_finetune.sh archive_run.sh publish_to_hub.sh hf_token.sh training_image.sh; do
  install -m 0755 "${SCRIPT_DIR}/${script}" "${ROOT}/opt/modelsmith/bin/${script}"
done
# Each job pulls the image again (pull_training_image); pulling here only warms the cache for the first job.
if [[ -n "${TRAINING_IMAGE_URI:-}" ]] && command -v docker >/dev/null 2>&1; then
  # shellcheck source=ec2_userdata/training_image.sh
  source "${SCRIPT_DIR}/training_image.sh"
  pull_training_image || log "training image ${TRAINING_IMAGE_URI} not pulled yet (push it first)"
fi
log "instance ready"
