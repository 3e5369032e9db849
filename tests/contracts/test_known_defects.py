"""One strict expected failure per known defect (``known_defects.KNOWN_DEFECTS``): each asserts that no contract
check reports the defect any more. While the defect exists the test fails as expected; the fix makes it pass, which
``strict`` turns into a failure until the fix also removes the entry, so the list never outlives the defects."""

from __future__ import annotations

import pytest

from tests.contracts.known_defects import KNOWN_DEFECTS
from tests.contracts.test_api_shapes import shape_problems
from tests.contracts.test_call_grants import ungranted
from tests.contracts.test_iam_policy_lint import lint_app
from tests.contracts.test_images import chosen_images, image_problems
from tests.contracts.test_limits import default_model_problems, limit_problems
from tests.support.deployed_app import DeployedApp

_cache: dict[int, list[str]] = {}


def all_reports(app: DeployedApp) -> list[str]:
    if id(app) not in _cache:
        reports = [*lint_app(app)[0], *shape_problems(app)[0], *ungranted(app)[0], *limit_problems(app)]
        reports += [
            problem for image, requirements in chosen_images() for problem in image_problems(image, requirements)
        ]
        reports += default_model_problems()
        _cache[id(app)] = reports
    return _cache[id(app)]


@pytest.mark.parametrize(
    "fragment",
    [
        pytest.param(
            fragment,
            marks=pytest.mark.xfail(strict=True, reason=defect),
            id=defect.split(":")[0] + ": " + fragment[:40],
        )
        for fragment, defect in KNOWN_DEFECTS.items()
    ],
)
def test_known_defect_is_still_reported(deployed: DeployedApp, fragment: str) -> None:
    reports = all_reports(deployed)
    assert not any(fragment in report for report in reports), f"still reported: {fragment}"
