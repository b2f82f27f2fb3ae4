"""Where the Label Studio server listens and the address annotators open: loopback by default, the network on request.

    python -m labeling.server start --host 0.0.0.0                          # or LABEL_STUDIO_BIND=0.0.0.0 make labelstudio
    python -m labeling.server start --public-url https://labels.example.org # or LABEL_STUDIO_HOST=https://...

Two settings, kept apart because Label Studio gives one of the names its own meaning:

- the bind address (`--host`, `LABEL_STUDIO_BIND`; default 127.0.0.1) is the interface the server listens on. Any
  address but loopback lets the network reach it over plain HTTP, so the launcher prints a warning with the steps
  to put TLS in front (`tls_warning`);
- the public URL (`--public-url`, `LABEL_STUDIO_HOST`, Label Studio's own name for it) is what annotators type, e.g.
  the HTTPS address of a reverse proxy. Label Studio builds its links from it, and Django must be told to trust it
  (`label_studio_env`): its host goes into `ALLOWED_HOSTS` and its origin into `CSRF_TRUSTED_ORIGINS`, since behind
  a proxy that ends TLS the server sees http while the browser's `Origin` says https (Label Studio 1.23 reads no
  forwarded-protocol header), and the log-in and every form would fail with "CSRF verification failed". Over https
  the session and CSRF cookies are marked secure.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "localhost.localdomain")
WILDCARDS = ("0.0.0.0", "::")  # listen on every interface
# what label_studio_env decides (an inherited value of one of these never reaches the server)
SETTINGS = (
    "LABEL_STUDIO_HOST",
    "LABEL_STUDIO_ALLOWED_HOSTS",
    "LABEL_STUDIO_CSRF_TRUSTED_ORIGINS",
    "LABEL_STUDIO_SESSION_COOKIE_SECURE",
    "LABEL_STUDIO_CSRF_COOKIE_SECURE",
)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: addresses only this machine reaches."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class Exposure:
    bind: str = "127.0.0.1"  # the interface Label Studio listens on
    public_url: str = ""  # what annotators open (e.g. https://labels.example.org behind a TLS proxy); "" = the bind URL

    def __post_init__(self):
        if not self.bind or any(c in self.bind for c in "/ "):
            raise ValueError(f"bind address {self.bind!r}: expected an IP address or host name such as 0.0.0.0")
        if self.public_url:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    f"LABEL_STUDIO_HOST={self.public_url!r}: Label Studio reads it as the public URL annotators open "
                    "(e.g. https://labels.example.org), scheme included; to listen on the network instead, set "
                    "LABEL_STUDIO_BIND=0.0.0.0 (or pass --host 0.0.0.0)"
                )

    @property
    def on_network(self) -> bool:
        """Whether another machine can reach the server itself (not only a proxy on this one)."""
        return not is_loopback(self.bind)

    @property
    def plain_http_public(self) -> bool:
        """The URL annotators open crosses a network unencrypted."""
        if self.public_url:
            parts = urlsplit(self.public_url)
            return parts.scheme == "http" and not is_loopback(parts.hostname or "")
        return self.on_network

    def local_url(self, port: int) -> str:
        """The URL this machine reaches the server at (health checks, the sync's default)."""
        host = "127.0.0.1" if self.bind in WILDCARDS else self.bind
        return f"http://{_url_host(host)}:{port}"

    def annotator_url(self, port: int) -> str:
        """The URL to hand to annotators."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.bind if self.bind not in WILDCARDS else "<this machine's address>"
        return f"http://{_url_host(host)}:{port}"


LOOPBACK = Exposure()  # the default: this machine only


def from_environment(bind: str | None = None, public_url: str | None = None) -> Exposure:
    """The exposure asked for: arguments first, then LABEL_STUDIO_BIND / LABEL_STUDIO_HOST, then loopback only.
    Raises ValueError with what to set when a value cannot be used."""
    return Exposure(
        bind=bind or os.environ.get("LABEL_STUDIO_BIND") or Exposure.bind,
        public_url=(public_url if public_url is not None else os.environ.get("LABEL_STUDIO_HOST", "")).strip(),
    )


def label_studio_env(exposure: Exposure) -> dict[str, str]:
    """The settings Label Studio needs to serve correctly at `exposure.public_url` (none without one)."""
    if not exposure.public_url:
        return {}
    parts = urlsplit(exposure.public_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    hosts = [parts.hostname, "127.0.0.1", "localhost"]  # the launcher's health check and the local sync stay allowed
    if exposure.bind not in WILDCARDS:
        hosts.append(exposure.bind.strip("[]"))
    secure = "1" if parts.scheme == "https" else "0"
    values = (exposure.public_url.rstrip("/"), ",".join(dict.fromkeys(hosts)), origin, secure, secure)
    return dict(zip(SETTINGS, values, strict=True))


def tls_warning(exposure: Exposure, port: int) -> str:
    """What to tell whoever starts a server that the network reaches over plain HTTP; "" when it does not."""
    if not (exposure.on_network or exposure.plain_http_public):
        return ""
    where = f"{_url_host(exposure.bind)}:{port}" if exposure.on_network else exposure.public_url
    head = (
        f"WARNING: Label Studio is reachable from the network over plain HTTP ({where}): anyone on the way can read "
        "the annotators' passwords, session cookies and API tokens, and the images."
    )
    if urlsplit(exposure.public_url).scheme == "https":
        return (
            f"{head}\nAnnotators open {exposure.public_url} (TLS): let only the proxy reach port {port} (a firewall "
            "rule), or run the proxy on this machine and keep Label Studio on loopback (drop --host / LABEL_STUDIO_BIND)."
        )
    return (
        f"{head}\n"
        "Put TLS in front of it:\n"
        "  1. keep Label Studio on loopback (drop --host / LABEL_STUDIO_BIND) and run a reverse proxy with a "
        "certificate on this machine, e.g.\n"
        f"       caddy reverse-proxy --from labels.example.org --to 127.0.0.1:{port}\n"
        "     (Caddy obtains and renews the certificate itself), or nginx: a `listen 443 ssl` server with your "
        f"certificate, `proxy_pass http://127.0.0.1:{port};` and `proxy_set_header Host $host;`;\n"
        "  2. start Label Studio with the proxy's address as its public URL:\n"
        "       LABEL_STUDIO_HOST=https://labels.example.org make labelstudio\n"
        "     (this sets Label Studio's LABEL_STUDIO_HOST, ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS to it and marks "
        "its cookies secure; without the trusted origin every log-in fails with 'CSRF verification failed');\n"
        f"  3. open only the proxy's ports (443, and 80 for the certificate) in the firewall, not {port}."
    )
