"""libpq network settings: a dead link ends a PostgreSQL connection in seconds, not minutes.

Without them a connection whose network is cut (a host's link down, a firewall dropping
packets) waits in the kernel's TCP retransmission for up to ~15 minutes, and so does every
thread using it: a worker could neither report nor stop. With them, a request the peer never
acknowledges fails after ``DEAD_LINK_S`` (``tcp_user_timeout``) and an idle connection is
probed (keepalives) and dropped after about the same time. A busy server still answers probes
from its kernel, so a long query is never cut. Unix-socket connections ignore all of it.
Settings given in the URL win.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEAD_LINK_S = 5
_DEFAULTS: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": DEAD_LINK_S,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "tcp_user_timeout": DEAD_LINK_S * 1000,  # milliseconds
}


def network_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    """The keepalive/timeout connection keywords ``params`` (the URL's) does not set."""
    return {k: v for k, v in _DEFAULTS.items() if k not in params}


__all__ = ["DEAD_LINK_S", "network_kwargs"]
