"""Defects the contract checks found that another open issue fixes: each check passes over them, and a strict
``xfail`` test per defect (``test_known_defects.py``) turns red the moment the defect is gone, so its entry here
is removed with the fix.

Each entry: a substring of the check's message -> the issue and item that fixes it.
"""

from __future__ import annotations

KNOWN_DEFECTS: dict[str, str] = {}


def expected_failure(message: str) -> str | None:
    """The known defect ``message`` reports, or None for a new finding."""
    return next((defect for fragment, defect in KNOWN_DEFECTS.items() if fragment in message), None)
