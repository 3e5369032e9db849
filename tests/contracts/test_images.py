"""Every container image the config can choose can install and run what the job installs at start.

Each image's Python, torch and transformers versions come from ``modelsmith_core.catalogue.IMAGE_VERSIONS`` (with the
published source of each). What a job installs at start: ``sagemaker_src/retrieval/requirements.txt`` on the training
image (SageMaker's training toolkit installs it before the entry point), the model's ``code/requirements.txt``
(``sentence-transformers==<the version that saved the model>``, written by ``train.py``) on the inference image, and
``requirements-ml.txt`` in the project's own image. Each pinned distribution's ``Requires-Python`` and
``Requires-Dist`` are read offline from its wheel's metadata (the same pinned versions are installed here); a
requirement on a library the image already has and the file does not pin (torch) must be met by the image's version,
or every start would try a multi-GB upgrade.
"""

from __future__ import annotations

import re
from importlib.metadata import distribution, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from modelsmith_core import catalogue
from tests.contracts.known_defects import expected_failure

REPO_ROOT = Path(__file__).resolve().parents[2]
TRAINING_REQUIREMENTS = REPO_ROOT / "sagemaker_src" / "retrieval" / "requirements.txt"
ML_REQUIREMENTS = REPO_ROOT / "requirements-ml.txt"


def pins(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line)
        if match:
            found[canonicalize_name(match[1].split("[")[0])] = match[2]
    return found


def image_problems(image: str, requirements: dict[str, str]) -> list[str]:
    versions = catalogue.IMAGE_VERSIONS[image]
    preinstalled = {
        name: value for name, value in (("torch", versions.torch), ("transformers", versions.transformers)) if value
    }
    environment = {"python_version": versions.python, "python_full_version": versions.python + ".0", "extra": ""}
    problems = []
    for name, pinned in sorted(requirements.items()):
        installed = Version(version(name)).public  # 2.13.0+cpu is the CPU build of 2.13.0
        assert installed == pinned, (
            f"{name}: pinned {pinned}, but {installed} is installed here; read metadata of the pin"
        )
        metadata = distribution(name).metadata
        requires_python = metadata.get("Requires-Python")
        if requires_python and versions.python not in SpecifierSet(requires_python):
            problems.append(
                f"{image}: {name}=={pinned} requires Python {requires_python}; the image has {versions.python}"
            )
        for text in metadata.get_all("Requires-Dist") or []:
            requirement = Requirement(text)
            dependency = canonicalize_name(requirement.name)
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            if dependency in preinstalled and dependency not in requirements:
                if preinstalled[dependency] not in requirement.specifier:
                    problems.append(
                        f"{image}: {name}=={pinned} requires {requirement}; the image has "
                        f"{dependency} {preinstalled[dependency]} (an upgrade at every start)"
                    )
    return problems


def chosen_images() -> list[tuple[str, dict[str, str]]]:
    model_code = {"sentence-transformers": version("sentence-transformers")}
    dockerfile = (REPO_ROOT / "sagemaker_src" / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", dockerfile, flags=re.M)[1]
    return [
        (catalogue.HF_TRAINING_IMAGE, pins(TRAINING_REQUIREMENTS.read_text())),
        (catalogue.HF_INFERENCE_IMAGE_GPU, model_code),
        (catalogue.HF_INFERENCE_IMAGE_CPU, model_code),
        (base, pins(ML_REQUIREMENTS.read_text())),
    ]


@pytest.mark.parametrize(
    ("image", "requirements"), chosen_images(), ids=lambda value: value if isinstance(value, str) else ""
)
def test_every_image_can_install_what_its_job_installs(image: str, requirements: dict[str, str]) -> None:
    assert image in catalogue.IMAGE_VERSIONS, f"{image}: record its versions and their source in the catalogue"
    assert catalogue.IMAGE_VERSIONS[image].source.startswith("https://")
    assert requirements, "expected pinned requirements"
    unknown = [problem for problem in image_problems(image, requirements) if expected_failure(problem) is None]
    assert unknown == [], "\n".join(unknown)


def test_the_training_requirements_pin_what_the_project_trains_with() -> None:
    ml = pins(ML_REQUIREMENTS.read_text())
    both = pins(TRAINING_REQUIREMENTS.read_text()).keys() & ml.keys()
    assert both and all(ml[name] == pins(TRAINING_REQUIREMENTS.read_text())[name] for name in both)


OLD_TRAINING_IMAGE = "huggingface-pytorch-training:2.1.0-transformers4.36.0-gpu-py310-cu121-ubuntu20.04"


def test_negative_control_an_old_python_is_refused() -> None:
    # The image the pipeline used before: Python 3.10 cannot install transformers 5 (issue 16, item 1).
    problems = image_problems(OLD_TRAINING_IMAGE, {"transformers": version("transformers")})
    assert any("requires Python >=3.11" in problem and "3.10" in problem for problem in problems), problems


def test_negative_control_an_endpoint_image_too_old_for_the_model_is_refused() -> None:
    # The inference image used before: sentence-transformers 6 needs transformers 5 and torch >= 2.2 (issue 16, item 2).
    old = "huggingface-pytorch-inference:2.1.0-transformers4.37.0-gpu-py310-cu118-ubuntu20.04"
    problems = image_problems(old, {"sentence-transformers": version("sentence-transformers")})
    assert any("the image has transformers 4.37.0" in problem for problem in problems), problems
