"""Names of what a run creates in other services, derived from its run ID within each service's rules.

The run ID is the Step Functions execution name: up to 80 characters of letters, digits, ``-`` and ``_``. Bedrock
refuses most of that (botocore ``bedrock`` model):

- ``CreateModelInvocationJob.jobName`` and ``CreateModelCustomizationJob.jobName``: at most 63 characters,
  ``[a-zA-Z0-9](-*[a-zA-Z0-9\\+\\-\\.])*`` (no ``_``);
- ``CreateCustomModelDeployment.modelDeploymentName``: at most 63, ``([0-9a-zA-Z][_-]?){1,63}`` (no doubled
  separators);
- ``clientRequestToken``: ``[a-zA-Z0-9](-*[a-zA-Z0-9])*`` (no ``_``), at most 256.

``bedrock_name`` keeps a run ID that already fits as ``modelsmith-<run ID>``; otherwise it replaces what Bedrock
refuses with ``-``, collapses repeated separators and, because two run IDs may then look alike, appends 8 hex
digits of the run ID's SHA-256, shortening the readable part to fit. ``request_token`` is the run ID's SHA-256 in
hex: the same run always sends the same token (a retried state creates nothing twice), different runs never share
one. The full run ID stays in the resources' ``modelsmith:run-id`` tag and the S3 prefix.
"""

from __future__ import annotations

import hashlib
import re

PREFIX = "modelsmith-"
MAX_NAME_LENGTH = 63
_FITS = re.compile(r"^[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*$")


def _digest(run_id: str) -> str:
    return hashlib.sha256(run_id.encode("utf-8")).hexdigest()


def bedrock_name(run_id: str) -> str:
    """``modelsmith-<run ID>`` as a Bedrock job or deployment name (see the module docstring)."""
    if not run_id:
        raise ValueError("run_id: empty")
    name = PREFIX + run_id
    if _FITS.match(run_id) and len(name) <= MAX_NAME_LENGTH:
        return name
    readable = re.sub(r"-+", "-", re.sub(r"[^a-zA-Z0-9]", "-", run_id)).strip("-")
    suffix = "-" + _digest(run_id)[:8]
    readable = readable[: MAX_NAME_LENGTH - len(PREFIX) - len(suffix)].rstrip("-")
    return f"{PREFIX}{readable}{suffix}" if readable else f"{PREFIX.rstrip('-')}{suffix}"


def request_token(run_id: str) -> str:
    """The idempotency token of a run's create requests (SHA-256 of the run ID, hex)."""
    if not run_id:
        raise ValueError("run_id: empty")
    return _digest(run_id)


def run_names(run_id: str) -> dict[str, str]:
    """What the workflows read at ``$.run_names``."""
    return {"bedrock": bedrock_name(run_id), "request_token": request_token(run_id)}
