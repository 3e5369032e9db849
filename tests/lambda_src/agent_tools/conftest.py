"""Fixtures for the agent tools: local stand-ins for the archives, moto for AWS, and no other network.

- One local HTTP server (127.0.0.1, ephemeral port) speaks the three archives' protocols: SIMBAD's TAP
  (``/simbad/sim-tap/sync`` answering VOTables, as pyvo's TAP client expects), the Gaia
  archive's TAP (``/tap-server/tap/sync``) and the NASA ADS search API (``/v1/search/query``). The real
  astroquery clients talk to it; it records each request, can be told to stall (timeouts) or fail (HTTP 5xx).
- moto stands in for S3 (outputs, presigned links) and Secrets Manager (the ADS token).
- Any connection to a non-loopback address fails the test: the tools must never reach the internet here.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from astropy.io.votable import from_table
from astropy.table import MaskedColumn, Table

REPO_ROOT = Path(__file__).resolve().parents[3]
FUNCTION_DIR = REPO_ROOT / "lambda_src" / "agent_tools"
DATA_DIR = Path(__file__).resolve().parent / "data"

BUCKET = "modelsmith-dev-artifacts"
PREFIX = "agent-tools/"
ADS_TOKEN = "ads-test-token-0123456789"
REGION = "us-west-2"
SIMBAD_OBJECTS = json.loads((DATA_DIR / "simbad_objects.json").read_text())["objects"]
ADS_ANSWER = json.loads((DATA_DIR / "ads_jwst_exoplanet_atmospheres.json").read_text())


# ---------------------------------------------------------------------------------------------------------
# No network but loopback
# ---------------------------------------------------------------------------------------------------------

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, bytes):
        host = host.decode()
    if host not in _LOOPBACK_NAMES and not str(host).startswith("127."):
        raise OSError(f"test tried to resolve {host!r}: the agent tools' tests must stay offline")
    return _real_getaddrinfo(host, *args, **kwargs)


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else address
    if (
        isinstance(host, str)
        and host not in _LOOPBACK_NAMES
        and not host.startswith("127.")
        and self.family != socket.AF_UNIX
    ):
        raise OSError(f"test tried to connect to {address!r}: the agent tools' tests must stay offline")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per test, so the guard never outlives this directory's tests on a shared pytest-xdist worker."""
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


# ---------------------------------------------------------------------------------------------------------
# A Gaia field: a globular cluster's colour-magnitude diagram plus field stars, reproducible per centre
# ---------------------------------------------------------------------------------------------------------


def gaia_field(ra: float, dec: float, radius_deg: float = 0.5) -> Table:
    """Synthetic Gaia DR3 rows around (ra, dec): red giant branch, horizontal branch, main sequence, field."""
    rng = np.random.default_rng(int(abs(ra) * 1000 + abs(dec) * 10))
    groups = {  # name: (count, G range, colour of G, colour scatter, parallax mas)
        "rgb": (150, (12.5, 17.0), lambda g: 0.95 + 0.12 * (17.0 - g), 0.03, 0.14),
        "hb": (60, (14.9, 15.1), None, None, 0.14),
        "ms": (1100, (17.0, 20.9), lambda g: 0.75 + 0.08 * (g - 17.0), 0.04, 0.14),
        "field": (100, (13.0, 20.5), None, None, None),
    }
    rows = []
    for name, (count, (g_low, g_high), colour_of, scatter, parallax) in groups.items():
        g = rng.uniform(g_low, g_high, count)
        if colour_of is not None:
            bp_rp = colour_of(g) + rng.normal(0, scatter, count)
        elif name == "hb":
            bp_rp = rng.uniform(-0.1, 0.6, count)
        else:
            bp_rp = rng.uniform(0.5, 2.5, count)
        plx = rng.uniform(0.2, 3.0, count) if parallax is None else rng.normal(parallax, 0.05, count)
        radius = radius_deg * rng.uniform(0, 1, count) ** (1.5 if name != "field" else 0.5)
        angle = rng.uniform(0, 2 * np.pi, count)
        rows.append(
            (g, bp_rp, plx, ra + radius * np.cos(angle) / np.cos(np.radians(dec)), dec + radius * np.sin(angle))
        )
    g, bp_rp, plx, ras, decs = (np.concatenate(parts) for parts in zip(*rows))
    no_colour = (g > 20.0) & (rng.uniform(0, 1, g.size) < 0.3)  # faint sources often lack BP/RP photometry
    table = Table()
    table["source_id"] = np.arange(g.size, dtype=np.int64) + 1_000_000_000_000_000_000 + int(abs(ra) * 1e6)
    table["ra"], table["dec"] = ras, decs
    table["phot_g_mean_mag"] = g
    table["bp_rp"] = MaskedColumn(bp_rp, mask=no_colour)
    table["parallax"] = plx
    table["parallax_error"] = np.full(g.size, 0.05)
    return table


def _separation_deg(ra1: np.ndarray, dec1: np.ndarray, ra2: float, dec2: float) -> np.ndarray:
    ra1, dec1, ra2, dec2 = map(np.radians, (ra1, dec1, ra2, dec2))
    a = np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(a)))


def gaia_answer(adql: str) -> Table:
    """What the Gaia archive returns for the cone-search ADQL the tool sends (TOP, CIRCLE, G limit, ORDER BY G)."""
    top = int(re.search(r"\bTOP (\d+)", adql)[1])
    ra, dec, radius = map(float, re.search(r"CIRCLE\('ICRS', ([-\d.]+), ([-\d.]+), ([-\d.]+)\)", adql).groups())
    max_g = float(re.search(r"phot_g_mean_mag <= ([\d.]+)", adql)[1])
    table = gaia_field(ra, dec)
    inside = (_separation_deg(table["ra"], table["dec"], ra, dec) <= radius) & (table["phot_g_mean_mag"] <= max_g)
    table = table[inside]
    table.sort("phot_g_mean_mag")
    return table[:top]


def _votable(table: Table) -> bytes:
    buffer = io.BytesIO()
    from_table(table).to_xml(buffer)
    return buffer.getvalue()


def simbad_answer(adql: str) -> Table:
    name = re.search(r"ident\.id = '((?:[^']|'')*)'", adql)[1].replace("''", "'")
    key = re.sub(r"\s+", "", name).lower()
    table = Table(names=("main_id", "ra", "dec", "otype", "otype_description"), dtype=(str, float, float, str, str))
    for entry in SIMBAD_OBJECTS:
        if key in {alias.lower() for alias in entry["aliases"]}:
            table.add_row((entry["main_id"], entry["ra"], entry["dec"], entry["otype"], entry["otype_description"]))
    return table


# ---------------------------------------------------------------------------------------------------------
# The local archive server
# ---------------------------------------------------------------------------------------------------------


@dataclass
class ArchiveServer:
    """The stand-in archives on 127.0.0.1; ``stall_seconds``/``fail_status`` make them slow or broken."""

    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    stall_seconds: float = 0.0
    fail_status: int | None = None

    @property
    def simbad_tap_url(self) -> str:
        return f"{self.base_url}/simbad/sim-tap"

    @property
    def gaia_tap_url(self) -> str:
        return f"{self.base_url}/"

    def last(self, archive: str) -> dict[str, Any]:
        return [r for r in self.requests if r["archive"] == archive][-1]

    def count(self, archive: str) -> int:
        return sum(1 for r in self.requests if r["archive"] == archive)


def _handler_for(server: ArchiveServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode()) if length else {}
            query = parse_qs(url.query)
            archive = (
                "simbad" if url.path.startswith("/simbad") else "gaia" if url.path.startswith("/tap-server") else "ads"
            )
            server.requests.append(
                {
                    "archive": archive,
                    "method": method,
                    "path": url.path,
                    "form": form,
                    "query": query,
                    "authorization": self.headers.get("Authorization"),
                }
            )
            if server.stall_seconds:
                time.sleep(server.stall_seconds)
            if server.fail_status:
                return self._reply(server.fail_status, b"Service Unavailable", "text/plain")
            if url.path == "/simbad/sim-tap/sync":
                return self._reply(200, _votable(simbad_answer(form["QUERY"][0])), "application/x-votable+xml")
            if url.path == "/tap-server/tap/sync":
                return self._reply(200, _votable(gaia_answer(form["QUERY"][0])), "application/x-votable+xml")
            if url.path == "/v1/search/query":
                if self.headers.get("Authorization") != f"Bearer {ADS_TOKEN}":
                    return self._reply(401, b'{"error": "Unauthorized"}', "application/json")
                rows = int(query.get("rows", ["10"])[0])
                answer = json.loads(json.dumps(ADS_ANSWER))
                if "nothing matches" in query["q"][0]:
                    answer["response"].update(numFound=0, docs=[])
                answer["response"]["docs"] = answer["response"]["docs"][:rows]
                return self._reply(200, json.dumps(answer).encode(), "application/json")
            return self._reply(404, b"not found", "text/plain")

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._route("POST")

    return Handler


@pytest.fixture(scope="session")
def _archive_http_server() -> Iterator[tuple[ThreadingHTTPServer, ArchiveServer]]:
    state = ArchiveServer(base_url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def archives(_archive_http_server: tuple[ThreadingHTTPServer, ArchiveServer]) -> Iterator[ArchiveServer]:
    """The stand-in archives, healthy and with an empty request log, for one test."""
    _, state = _archive_http_server
    state.requests.clear()
    state.stall_seconds, state.fail_status = 0.0, None
    yield state
    state.stall_seconds, state.fail_status = 0.0, None


# ---------------------------------------------------------------------------------------------------------
# The function, configured as the CDK construct configures it, against moto and the local archives
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LambdaContext:
    function_name: str = "modelsmith-dev-agent-tools"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:modelsmith-dev-agent-tools"
    aws_request_id: str = "0b4cbbd0-5c2e-4a39-9f1a-2d7f0d4f6f1e"


def _load_handler() -> ModuleType:
    """The function's handler module, imported afresh (it reads its settings when imported)."""
    return importlib.reload(importlib.import_module("lambda_src.agent_tools.handler"))


@dataclass
class AgentTools:
    """Invokes the deployed function's handler with Bedrock agent events."""

    handler: ModuleType
    s3: Any
    archives: ArchiveServer
    bucket: str = BUCKET
    prefix: str = PREFIX
    ads_token: str = ADS_TOKEN

    def gaia_expected(self) -> Table:
        """The rows the Gaia stand-in returned for the last cone search."""
        return gaia_answer(self.archives.last("gaia")["form"]["QUERY"][0])

    def invoke(self, api_path: str, **parameters: Any) -> tuple[int, dict[str, Any]]:
        event = agent_event(api_path, parameters)
        answer = self.handler.lambda_handler(event, LambdaContext())
        response = answer["response"]
        assert answer["messageVersion"] == "1.0"
        assert (response["actionGroup"], response["apiPath"], response["httpMethod"]) == (
            "astronomy-tools",
            api_path,
            "GET",
        )
        body = response["responseBody"]["application/json"]["body"]
        return response["httpStatusCode"], json.loads(body)


def agent_event(api_path: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """A Bedrock agent action-group event (OpenAPI schema, GET with query parameters)."""

    def kind(value: Any) -> str:
        return "integer" if isinstance(value, int) else "number" if isinstance(value, float) else "string"

    return {
        "messageVersion": "1.0",
        "agent": {"name": "modelsmith-dev-astronomy", "id": "AGENT12345", "alias": "TSTALIASID", "version": "DRAFT"},
        "inputText": "question",
        "sessionId": "111122223333444",
        "actionGroup": "astronomy-tools",
        "apiPath": api_path,
        "httpMethod": "GET",
        "parameters": [{"name": k, "type": kind(v), "value": str(v)} for k, v in parameters.items()],
        "sessionAttributes": {},
        "promptSessionAttributes": {},
    }


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "agent-tools",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def tools(aws_environment: None, archives: ArchiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[AgentTools]:
    """The handler with its environment set, an empty output bucket and the ADS token secret in moto."""
    import boto3
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="modelsmith/dev/nasa-ads-token", SecretString=ADS_TOKEN
        )
        from lambda_src.agent_tools.astro_tools import settings as names

        for key, value in {
            names.OUTPUT_BUCKET: BUCKET,
            names.OUTPUT_PREFIX: PREFIX,
            names.ADS_TOKEN_SECRET_ARN: secret["ARN"],
            names.ARCHIVE_TIMEOUT_SECONDS: "5",
            names.PRESIGNED_URL_EXPIRY_SECONDS: "3600",
            names.SIMBAD_TAP_URL: archives.simbad_tap_url,
            names.GAIA_TAP_URL: archives.gaia_tap_url,
            names.ADS_API_URL: archives.base_url,
        }.items():
            monkeypatch.setenv(key, value)
        from lambda_src.agent_tools.astro_tools import api, gaia_search, simbad_lookup

        api.reset()
        simbad_lookup._client.cache_clear()
        gaia_search._client.cache_clear()
        parameters.clear_caches()
        yield AgentTools(handler=_load_handler(), s3=s3, archives=archives)
        api.reset()
        parameters.clear_caches()
