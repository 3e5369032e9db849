"""The training code a SageMaker training job runs: ``sagemaker_src`` packed as the ``sourcedir.tar.gz`` that
SageMaker's training toolkit downloads, unpacks, installs ``requirements.txt`` from, and runs.

Props:
    entry_module (str): the module the job runs, e.g. ``sagemaker_src.retrieval.train``; it gets a
        ``<program>`` script at the archive's root that calls its ``main()``. Required.
    program (str): that script's file name, passed to the job as the ``sagemaker_program`` hyperparameter.
        Required.
    requirements (Path): pip requirements installed in the job before the program runs. Required.

The archive is built at synth time (offline, no Docker) into ``build/sagemaker-code/``, byte-for-byte the same
for the same sources (sorted entries, zero timestamps and owners), so the asset hash only changes when the
code does. Exposes ``asset`` (an S3 file asset) and ``s3_uri``.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets

from constructs import Construct
from constructs.permissions import grant
from constructs.service_access import read_object

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_PACKAGE = REPO_ROOT / "sagemaker_src"
BUILD_DIR = REPO_ROOT / "build" / "sagemaker-code"


def _entry_script(entry_module: str) -> bytes:
    return (
        f'"""SageMaker training entry point: runs {entry_module} with the job\'s hyperparameters."""\n'
        f"from {entry_module} import main\n\n"
        'if __name__ == "__main__":\n'
        "    raise SystemExit(main())\n"
    ).encode()


def _add(archive: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid = len(content), 0, 0o644, 0, 0
    archive.addfile(info, io.BytesIO(content))


def build_source_archive(entry_module: str, program: str, requirements: Path) -> bytes:
    """The gzipped tar: ``<program>``, ``requirements.txt`` and every ``.py``/``.yml`` file of ``sagemaker_src``."""
    members = sorted(
        path
        for path in SOURCE_PACKAGE.rglob("*")
        if path.is_file() and path.suffix in {".py", ".yml"} and "__pycache__" not in path.parts
    )
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        _add(archive, program, _entry_script(entry_module))
        _add(archive, "requirements.txt", requirements.read_bytes())
        for path in members:
            _add(archive, path.relative_to(REPO_ROOT).as_posix(), path.read_bytes())
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0) as stream:
        stream.write(raw.getvalue())
    return compressed.getvalue()


class SageMakerTrainingCode(Construct):
    """See the module docstring."""

    def __init__(
        self, scope: Construct, construct_id: str, *, entry_module: str, program: str, requirements: Path
    ) -> None:
        super().__init__(scope, construct_id)
        self.program = program
        content = build_source_archive(entry_module, program, requirements)
        BUILD_DIR.mkdir(parents=True, exist_ok=True)
        path = BUILD_DIR / f"{program.removesuffix('.py')}-sourcedir.tar.gz"
        if not path.is_file() or path.read_bytes() != content:
            path.write_bytes(content)
        self.asset = s3_assets.Asset(self, "Archive", path=str(path))
        self.s3_uri = self.asset.s3_object_url

    def grant_read(self, role: iam.IRole) -> None:
        """Read the code archive: that one object, not the whole assets bucket (CDK's ``Asset.grant_read`` grants
        the bucket's listing and every object)."""
        grant(role, read_object(f"arn:{Aws.PARTITION}:s3:::{self.asset.s3_bucket_name}/{self.asset.s3_object_key}"))
