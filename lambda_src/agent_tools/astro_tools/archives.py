"""Talking to the archives within a time limit, once, and turning their failures into clear tool errors.

Every archive request has a connect and read timeout and is sent once: the agent decides whether to try
again, so a slow archive never meets a storm of retries from this function.

- :func:`bounded_session` gives a ``requests`` session (astroquery's SIMBAD/pyvo and ADS clients) a default
  timeout and no retries.
- :class:`TimeoutConnectionHandler` does the same for astroquery's Gaia client, which speaks ``http.client``.
- :func:`archive_errors` maps timeouts, refused connections and HTTP errors to :class:`ArchiveTimeout` and
  :class:`ArchiveUnavailable` with a message naming the archive.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from lambda_src.agent_tools.astro_tools.errors import ArchiveTimeout, ArchiveUnavailable, ToolError


class _BoundedAdapter(HTTPAdapter):
    """A transport adapter that sends each request once, with a timeout unless the caller gave one."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__(max_retries=0)
        self._timeout_seconds = timeout_seconds

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout_seconds
        return super().send(request, **kwargs)


def bounded_session(session: requests.Session, timeout_seconds: float) -> requests.Session:
    """Make every request of ``session`` time out after ``timeout_seconds`` and never retry."""
    adapter = _BoundedAdapter(timeout_seconds)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class TimeoutConnectionHandler:
    """Connection factory for astroquery's ``TapPlus`` (``tap_plus_conn_handler``) with a socket timeout."""

    def __init__(self, url: str, timeout_seconds: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._ssl_port = parts.port or 443
        self._timeout_seconds = timeout_seconds

    def get_connection(
        self, *, ishttps: bool = False, cookie: Any = None, verbose: bool = False
    ) -> http.client.HTTPConnection:
        if ishttps or cookie is not None:
            return self.get_connection_secure(verbose)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_seconds)

    def get_connection_secure(self, verbose: bool = False) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self._host, self._ssl_port, timeout=self._timeout_seconds)


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps: ``__cause__``, ``__context__`` and pyvo's ``cause``."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "cause", None)
        pending.extend(
            [current.__cause__, current.__context__, wrapped if isinstance(wrapped, BaseException) else None]
        )


def _http_status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


@contextmanager
def archive_errors(archive: str, timeout_seconds: float) -> Iterator[None]:
    """Translate what a call to ``archive`` raises into a :class:`ToolError` the agent can act on."""
    try:
        yield
    except ToolError:
        raise
    except Exception as error:  # noqa: BLE001 - every archive failure becomes a readable tool error
        causes = list(_causes(error))
        if any(isinstance(c, (socket.timeout, TimeoutError, requests.Timeout)) for c in causes):
            raise ArchiveTimeout(
                f"{archive} did not answer within {timeout_seconds:g} s; it may be busy or down. "
                "Try again in a few minutes, or ask for a smaller region or fewer rows."
            ) from error
        status = next((s for s in map(_http_status, causes) if s is not None), None)
        if status is not None:
            raise ArchiveUnavailable(f"{archive} answered with HTTP {status}; try again later.") from error
        if any(isinstance(c, (ConnectionError, requests.ConnectionError, http.client.HTTPException)) for c in causes):
            raise ArchiveUnavailable(f"{archive} could not be reached; try again later.") from error
        raise ArchiveUnavailable(f"{archive} query failed: {_first_line(error)}") from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]
