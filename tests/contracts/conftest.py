"""Fixtures of the contract checks: each environment's templates as deployed (``DeployedApp``)."""

from __future__ import annotations

import pytest

from tests.support.deployed_app import DeployedApp


@pytest.fixture(scope="session")
def deployed(synthesized) -> DeployedApp:
    """The ``synthesized`` environment (dev, then prod) with every reference resolved to a realistic value."""
    return DeployedApp.from_templates(synthesized.template_paths, synthesized.config.region)
