"""Errors a tool reports to the agent: each has an HTTP-style status and a message written for a person.

The agent sees the status and the message, never a traceback: ``api`` turns every :class:`ToolError` into a
response, and anything else into a 500 that points at the function's logs.
"""

from __future__ import annotations

from http import HTTPStatus


class ToolError(Exception):
    """Base of the errors a tool reports; ``status`` is the HTTP status code the agent receives."""

    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR
    code: str = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadArgument(ToolError):
    """A tool argument is missing, malformed or out of range (400)."""

    status = HTTPStatus.BAD_REQUEST
    code = "bad_argument"


class NotFound(ToolError):
    """The archive answered, but nothing matches (an unknown object name, an expired result; 404)."""

    status = HTTPStatus.NOT_FOUND
    code = "not_found"


class ArchiveTimeout(ToolError):
    """The archive did not answer within the configured time (504); the request is not retried."""

    status = HTTPStatus.GATEWAY_TIMEOUT
    code = "archive_timeout"


class ArchiveUnavailable(ToolError):
    """The archive could not be reached or answered with an error (502)."""

    status = HTTPStatus.BAD_GATEWAY
    code = "archive_unavailable"


class NotConfigured(ToolError):
    """The deployment lacks something an operator must provide, e.g. the NASA ADS token (503)."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "not_configured"
