"""``mqtt[s]://[user:pass@]host[:port]``: the one way a broker is named, for the camera and the monitor."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class MqttUrl:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:  # never prints the password
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def parse_mqtt_url(text: str) -> MqttUrl:
    """Raises ValueError, in one line, for anything but ``mqtt[s]://[user:pass@]host[:port]``."""
    parts = urlsplit(text)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"bad broker address {text!r}; use mqtt://host[:port] or mqtts://user:pass@host:8883")
    if parts.path not in ("", "/") or parts.query:
        raise ValueError(f"bad broker address {text!r}: no path or query after the host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad broker address {text!r}: the port must be a number 1..65535") from None
    tls = parts.scheme == "mqtts"
    return MqttUrl(parts.hostname, port or (8883 if tls else 1883), tls,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)
