"""The documentation site builds with `mkdocs build --strict` (no broken link or anchor, every page in the
navigation), its reference pages are generated from the code, and the README points into it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO_ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _text(page: Path) -> str:
    return re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))


def test_the_reference_pages_are_generated_from_the_code(site: Path) -> None:
    from modelsmith_core.config import RetrievalPipelineConfig

    cli = _text(site / "reference" / "cli" / "index.html")
    assert "modelsmith dry-run" in cli and "--evaluation-questions" in cli and "--gate" in cli
    config = _text(site / "reference" / "config" / "index.html")
    for key in RetrievalPipelineConfig.model_fields:
        assert f"retrieval_pipeline.{key}" in config, key
    workflows = _text(site / "reference" / "workflow-inputs" / "index.html")
    assert "evaluation_questions_uri" in workflows and "ci_lower" in workflows


def test_every_page_is_in_the_navigation_and_the_readme_links_resolve(site: Path) -> None:
    pages = {path.relative_to(REPO_ROOT / "docs").as_posix() for path in (REPO_ROOT / "docs").rglob("*.md")}
    navigation = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", (REPO_ROOT / "mkdocs.yml").read_text(), re.MULTILINE))
    assert pages == navigation
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert links and all((REPO_ROOT / link).is_file() for link in links), links
    assert len(readme.splitlines()) <= 160
