"""The function's settings, read once from its environment (set by ``constructs/agent_tools_function.py``).

The variable names are the constants below; nothing else in the package reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

OUTPUT_BUCKET = "OUTPUT_BUCKET"
OUTPUT_PREFIX = "OUTPUT_PREFIX"
ADS_TOKEN_SECRET_ARN = "ADS_TOKEN_SECRET_ARN"
ARCHIVE_TIMEOUT_SECONDS = "ARCHIVE_TIMEOUT_SECONDS"
PRESIGNED_URL_EXPIRY_SECONDS = "PRESIGNED_URL_EXPIRY_SECONDS"
SIMBAD_TAP_URL = "SIMBAD_TAP_URL"
GAIA_TAP_URL = "GAIA_TAP_URL"
ADS_API_URL = "ADS_API_URL"
KNOWLEDGE_BASE_ID = "KNOWLEDGE_BASE_ID"

DEFAULT_SIMBAD_TAP_URL = "https://simbad.cds.unistra.fr/simbad/sim-tap"
DEFAULT_GAIA_TAP_URL = "https://gea.esac.esa.int/"
DEFAULT_ADS_API_URL = "https://api.adsabs.harvard.edu"


@dataclass(frozen=True)
class Settings:
    """Where outputs go, which secret holds the ADS token, how long to wait for an archive."""

    output_bucket: str
    output_prefix: str
    ads_token_secret_arn: str
    archive_timeout_seconds: float = 20.0
    presigned_url_expiry_seconds: int = 3600
    simbad_tap_url: str = DEFAULT_SIMBAD_TAP_URL
    gaia_tap_url: str = DEFAULT_GAIA_TAP_URL
    ads_api_url: str = DEFAULT_ADS_API_URL
    knowledge_base_id: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings; a missing required variable is a deployment bug and names the variable."""
        environ = os.environ if environ is None else environ
        missing = [name for name in (OUTPUT_BUCKET, OUTPUT_PREFIX, ADS_TOKEN_SECRET_ARN) if not environ.get(name)]
        if missing:
            raise RuntimeError(f"environment variables not set: {', '.join(missing)}")
        prefix = environ[OUTPUT_PREFIX]
        return cls(
            output_bucket=environ[OUTPUT_BUCKET],
            output_prefix=prefix if prefix.endswith("/") else prefix + "/",
            ads_token_secret_arn=environ[ADS_TOKEN_SECRET_ARN],
            archive_timeout_seconds=float(environ.get(ARCHIVE_TIMEOUT_SECONDS, cls.archive_timeout_seconds)),
            presigned_url_expiry_seconds=int(
                environ.get(PRESIGNED_URL_EXPIRY_SECONDS, cls.presigned_url_expiry_seconds)
            ),
            simbad_tap_url=environ.get(SIMBAD_TAP_URL, DEFAULT_SIMBAD_TAP_URL),
            gaia_tap_url=environ.get(GAIA_TAP_URL, DEFAULT_GAIA_TAP_URL),
            ads_api_url=environ.get(ADS_API_URL, DEFAULT_ADS_API_URL),
            knowledge_base_id=environ.get(KNOWLEDGE_BASE_ID) or None,
        )
