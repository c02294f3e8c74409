"""The edge's HTTP client for the hub's edge-facing API (bearer token of the edge).

Maps transport errors and status codes to `HubUnavailable` (retry), `HubAuthError` and
`HubRejected` so the delivery loop decides by type, never by parsing messages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from edge.exceptions import HubAuthError, HubRejected, HubUnavailable

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    """The hub's answer to ``POST /api/v1/events``."""

    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {"index", "id", "reason"}


class HubClient:
    """Synchronous client for the hub endpoints an edge uses.

    Example::

        hub = HubClient("http://hub:8000", token="...")
        hub.put_evidence(sha, jpeg, "image/jpeg")
        result = hub.post_events([event.to_json_dict()])
        hub.close()
    """

    def __init__(self, base_url: str, token: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s,
                                  headers={"Authorization": f"Bearer {token}"})

    def post_events(self, events: list[dict[str, Any]]) -> IngestResult:
        """Post a batch of wire-form events."""
        data = self._request("POST", "/api/v1/events", json={"events": events}).json()
        return IngestResult(accepted=[str(i) for i in data.get("accepted", [])],
                            duplicates=[str(i) for i in data.get("duplicates", [])],
                            rejected=list(data.get("rejected", [])))

    def put_evidence(self, sha256: str, data: bytes, mime: str) -> None:
        """Upload one content-addressed evidence file (idempotent at the hub)."""
        self._request("PUT", f"/api/v1/evidence/{sha256}", content=data, headers={"Content-Type": mime})

    def put_cameras(self, cameras: list[dict[str, Any]]) -> dict[str, Any]:
        """Declare this edge's cameras."""
        return self._json(self._request("PUT", "/api/v1/edges/self/cameras", json={"cameras": cameras}))

    def heartbeat(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send one heartbeat."""
        return self._json(self._request("POST", "/api/v1/edges/self/heartbeat", json=body))

    def put_key(self, public_key_b64: str) -> dict[str, Any]:
        """Register the edge's Ed25519 public key (used by evidence signing)."""
        return self._json(self._request("PUT", "/api/v1/edges/self/key", json={"public_key": public_key_b64}))

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise HubUnavailable(f"{method} {self.base_url}{path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code < 300:
            return response
        detail = _detail(response)
        message = f"{method} {path}: HTTP {response.status_code}: {detail}"
        if response.status_code in (401, 403):
            raise HubAuthError(message, response.status_code)
        if response.status_code in (408, 425, 429) or response.status_code >= 500:
            raise HubUnavailable(message, response.status_code)
        raise HubRejected(message, response.status_code)

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {"data": data}


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])[:300]
    return str(data)[:300]
