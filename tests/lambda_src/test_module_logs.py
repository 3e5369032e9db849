"""The plain modules' logs reach CloudWatch in the handler's structured (JSON) format.

Modules log to ``logging.getLogger(__name__)``; each handler hands its Powertools configuration to them with
``copy_config_to_registered_loggers``, which configures top-level loggers only (names without a dot,
aws_lambda_powertools/logging/utils.py). The modules' loggers are named ``lambda_src.<function>.<module>``,
so what is configured must be their top-level ancestor.
"""

from __future__ import annotations

import ast
import importlib
import logging
from pathlib import Path

import pytest
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from tests.support.lambdas import lambda_environment, load_handler  # noqa: F401

LAMBDA_SRC = Path(__file__).resolve().parents[2] / "lambda_src"


def _modules_with_a_logger(function: str) -> list[str]:
    names = []
    for path in sorted((LAMBDA_SRC / function).glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and ast.unparse(node.value) == "logging.getLogger(__name__)"
            ):
                names.append(f"lambda_src.{function}.{path.stem}")
    return names


FUNCTIONS = sorted(
    path.parent.name for path in LAMBDA_SRC.glob("*/handler.py") if _modules_with_a_logger(path.parent.name)
)


def _formatters(logger: logging.Logger) -> list[logging.Formatter | None]:
    """The formatters a record logged here is written with (the logger's handlers and its ancestors')."""
    found: list[logging.Formatter | None] = []
    current: logging.Logger | None = logger
    while current is not None:
        found += [handler.formatter for handler in current.handlers]
        current = current.parent if current.propagate else None  # type: ignore[assignment]
    return found


def test_every_function_whose_modules_log_is_checked() -> None:
    assert len(FUNCTIONS) >= 7, FUNCTIONS


@pytest.mark.parametrize("function", FUNCTIONS)
def test_module_logs_use_the_handlers_structured_format(function: str, lambda_environment) -> None:  # noqa: F811
    load_handler(function)
    for name in _modules_with_a_logger(function):
        module = importlib.import_module(name)
        formatters = _formatters(module.logger)
        assert any(isinstance(f, LambdaPowertoolsFormatter) for f in formatters), (name, formatters)
