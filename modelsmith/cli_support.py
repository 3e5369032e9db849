"""What every ``modelsmith`` command shares: the invocation's state, the error a user can act on, and the one
place where errors become a readable line plus what to do.

- :class:`AppState` holds the global options (``--env``, ``--debug``, ``--region``, ``--profile``) and the AWS
  session. Tests hand their own in through ``CliRunner.invoke(app, args, obj=AppState(session=...))``.
- :class:`CliError` is an error the user can fix: ``message`` is one line, ``hint`` says what to do, and
  ``exit_code`` is 2 for bad input (arguments, files, execution input) and 1 for anything else that failed.
- :class:`ModelsmithGroup` is the root command's class: every exception raised below it goes through
  :func:`describe_error` and is printed as ``error: ...`` / ``hint: ...``; ``--debug`` shows the traceback
  instead.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

REPO_ROOT = Path(__file__).resolve().parents[1]
CDK_JSON = REPO_ROOT / "cdk.json"
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
DEBUG_HINT = "run again with --debug for the traceback"


class CliError(Exception):
    """A problem the user can act on: ``message`` (one line), ``hint`` (what to do) and the exit status."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, hint: str | None = None, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(CliError):
    """Bad input: an argument, a file or an execution input (exit status 2)."""

    exit_code = EXIT_BAD_INPUT


@dataclass
class AppState:
    """One invocation's global options and the resources commands share, created when first needed."""

    env: str = "dev"
    debug: bool = False
    region: str | None = None
    profile: str | None = None
    session: Any = None  # a boto3.Session, or any object with .client(name, **kwargs)
    sleep: Callable[[float], None] = time.sleep
    _console: Any = field(default=None, repr=False)

    def aws(self) -> Any:
        """The AWS session: the one given, or a boto3 session from ``--profile``/``--region`` and the shell."""
        if self.session is None:
            import boto3

            self.session = boto3.Session(profile_name=self.profile, region_name=self.region)
        return self.session

    def client(self, service: str, **kwargs: Any) -> Any:
        return self.aws().client(service, **kwargs)

    @property
    def console(self) -> Any:
        """rich console on standard output (created on first use, so a test runner's stream is the one used)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(soft_wrap=True, highlight=False)
        return self._console

    def progress_console(self) -> Any:
        """rich console on standard error, for progress bars and live views (standard output stays data)."""
        from rich.console import Console

        return Console(stderr=True, highlight=False)


def app_state(ctx: typer.Context) -> AppState:
    """The invocation's :class:`AppState` (the root command creates it; tests may pass their own)."""
    return ctx.ensure_object(AppState)


def environment_config(env: str) -> Any:
    """The validated :class:`~modelsmith_core.config.EnvironmentConfig` of ``env`` from cdk.json."""
    from modelsmith_core.config import ConfigError, load_config

    try:
        environments = json.loads(CDK_JSON.read_text(encoding="utf-8"))["context"]["environments"]
        return load_config(environments, env)
    except (OSError, KeyError, json.JSONDecodeError) as error:
        raise CliError(
            f"cannot read the environments from {CDK_JSON}: {error}", "run modelsmith from a full checkout"
        ) from None
    except ConfigError as error:
        raise InputError(
            f"environment '{env}': " + "; ".join(error.problems),
            "pick an environment defined in cdk.json with --env, or fix its configuration",
        ) from None


def describe_error(error: BaseException) -> tuple[str, str | None, int]:
    """``(message, hint, exit status)`` for any exception: known ones get a specific hint."""
    if isinstance(error, CliError):
        return error.message, error.hint, error.exit_code
    from modelsmith.customization_cli import CommandError

    if isinstance(error, CommandError):
        return str(error), None, EXIT_BAD_INPUT
    described = _describe_aws_error(error)
    if described is not None:
        return described
    if isinstance(error, FileNotFoundError):
        return f"{error.filename or error}: no such file or directory", "check the path", EXIT_BAD_INPUT
    if isinstance(error, PermissionError):
        return f"{error.filename or error}: permission denied", "check the file's permissions", EXIT_FAILURE
    if isinstance(error, SystemExit):  # the argparse tools exit with "error: ..." strings
        return str(error.code).removeprefix("error: "), None, EXIT_FAILURE
    return f"unexpected {type(error).__name__}: {error}", DEBUG_HINT, EXIT_FAILURE


def _describe_aws_error(error: BaseException) -> tuple[str, str | None, int] | None:
    try:
        from botocore import exceptions as botocore_errors
    except ImportError:  # pragma: no cover - boto3 is a dependency of the app
        return None
    if isinstance(error, botocore_errors.NoCredentialsError):
        return ("no AWS credentials found", "set AWS_PROFILE (or run `aws sso login`) or pass --profile", EXIT_FAILURE)
    if isinstance(error, botocore_errors.NoRegionError):
        return "no AWS region configured", "set AWS_REGION or pass --region", EXIT_FAILURE
    if isinstance(error, botocore_errors.ClientError):
        details = error.response.get("Error", {})
        code, message = details.get("Code", "Unknown"), details.get("Message", "")
        operation = getattr(error, "operation_name", "the AWS call")
        hint = None
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            hint = "the credentials in use lack this permission; use a role that has it (see README)"
        elif code in ("ExpiredToken", "ExpiredTokenException", "UnrecognizedClientException", "InvalidClientTokenId"):
            hint = "refresh your AWS credentials (e.g. `aws sso login`)"
        elif code.endswith("NotFound") or code.endswith("DoesNotExist") or code == "ResourceNotFoundException":
            hint = f"check the name or ARN, and that the stacks of this environment are deployed ({DEBUG_HINT})"
        return f"{operation} failed: {code}: {message}".rstrip(": "), hint, EXIT_FAILURE
    if isinstance(error, botocore_errors.BotoCoreError):
        return f"AWS: {error}", "check the network and the region (--region)", EXIT_FAILURE
    return None


def report_error(message: str, hint: str | None) -> None:
    typer.echo(f"{typer.style('error:', fg='red', bold=True)} {message}", err=True)
    if hint:
        typer.echo(f"{typer.style('hint:', fg='yellow')} {hint}", err=True)


class ModelsmithGroup(TyperGroup):
    """The root command: turns every error raised by a command into one line plus a hint (unless --debug)."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # exit statuses, usage errors (bad arguments: status 2) and Ctrl-C keep typer's own handling
        except BrokenPipeError:  # the reader went away (`modelsmith ... | head`): nothing left to say
            _silence_stdout()
            raise typer.Exit(EXIT_FAILURE) from None
        except KeyboardInterrupt:
            report_error("interrupted", None)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (Exception, SystemExit) as error:  # noqa: BLE001 - the one place errors are shown
            if isinstance(error, SystemExit) and not isinstance(error.code, str):
                raise
            state = ctx.obj if isinstance(ctx.obj, AppState) else None
            if state is not None and state.debug:
                raise
            message, hint, exit_code = describe_error(error)
            report_error(message, hint)
            raise typer.Exit(exit_code) from None


def _silence_stdout() -> None:
    """Point standard output at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (a test runner's buffer): nothing to redirect
        pass


def prefer_project_node() -> None:
    """Put the project's Node (node_modules/.bin, Node 22 from npm) first on PATH, as the Makefile does: the
    CDK library that ``constructs.parameter_tree`` imports starts Node, and an older system Node warns."""
    node_bin = REPO_ROOT / "node_modules" / ".bin"
    if node_bin.is_dir() and str(node_bin) not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}"
