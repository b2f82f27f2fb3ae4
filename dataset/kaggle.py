"""Kaggle sources through kagglehub: `kaggle:<owner>/<dataset>[/versions/<N>]`.

kagglehub keeps downloads in `$KAGGLEHUB_CACHE/datasets/<owner>/<dataset>/versions/<N>/` (default
`~/.cache/kagglehub`). A versioned handle already in that cache resolves with no network and no credentials; the
source lock always pins a version, so after the first download ingest runs offline. Anything else needs credentials
(`KAGGLE_USERNAME` + `KAGGLE_KEY`, `KAGGLE_API_TOKEN`, or `~/.kaggle/kaggle.json`) and the network: no credentials is
exit 2 with what to set; no answer within `ingest.kaggle_timeout_s` (10 s) is exit 75, worth a retry.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from core.errors import BadInput, Transient

HANDLE = re.compile(r"^(?P<owner>[A-Za-z0-9][\w.-]*)/(?P<slug>[A-Za-z0-9][\w.-]*)(?:/versions/(?P<version>\d+))?$")


def parse(spec: str) -> tuple[str, str, int | None]:
    body = spec.removeprefix("kaggle:")
    m = HANDLE.match(body)
    if not m:
        raise BadInput(f"source {spec!r}: expected kaggle:<owner>/<dataset>[/versions/<N>]")
    return m["owner"], m["slug"], int(m["version"]) if m["version"] else None


def cached_path(owner: str, slug: str, version: int) -> Path | None:
    """The cached folder of a version if kagglehub marked it complete, else None (no network)."""
    from kagglehub.cache import Cache
    from kagglehub.handle import parse_dataset_handle

    found = Cache().load_from_cache(parse_dataset_handle(f"{owner}/{slug}/versions/{version}"))
    return Path(found) if found else None


def _credentials_present() -> bool:
    from kagglehub.config import get_kaggle_credentials

    try:
        return get_kaggle_credentials() is not None
    except ValueError as err:  # a malformed kaggle.json
        raise BadInput(f"Kaggle credentials: {err}") from None


def _call_with_deadline(fn, timeout: float, what: str):
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # handed to the caller's thread
            box["error"] = err

    t = threading.Thread(target=target, daemon=True)  # a hung socket must not keep the process alive
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise Transient(f"{what}: Kaggle did not answer within {timeout:g} s (network unreachable?); retry later")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]


def _translate(err: Exception, what: str) -> Exception:
    text = f"{type(err).__name__}: {err}"
    if any(s in text for s in ("401", "403", "Unauthorized", "Forbidden")):
        return BadInput(f"{what}: Kaggle refused the credentials ({text[:200]})")
    if "404" in text or "Not Found" in text:
        return BadInput(f"{what}: no such data set or version on Kaggle ({text[:200]})")
    return Transient(f"{what}: Kaggle unreachable ({text[:200]}); retry later")


def resolve(spec: str, timeout: float) -> tuple[Path, int]:
    """(local folder, version) of a Kaggle source, from the cache when possible."""
    owner, slug, version = parse(spec)
    if version is not None:
        hit = cached_path(owner, slug, version)
        if hit is not None:
            return hit, version
    if not _credentials_present():
        raise BadInput(
            f"{spec}: not in the kagglehub cache and no Kaggle credentials: set KAGGLE_USERNAME and "
            "KAGGLE_KEY (or KAGGLE_API_TOKEN), or put kaggle.json in ~/.kaggle/"
        )
    import kagglehub  # noqa: F401  (importing it registers the resolvers)
    from kagglehub.handle import parse_dataset_handle

    handle = f"{owner}/{slug}" + (f"/versions/{version}" if version is not None else "")

    def download() -> tuple[str, int | None]:
        from kagglehub import registry

        return registry.dataset_resolver(parse_dataset_handle(handle), None, force_download=False, output_dir=None)

    try:
        path, got = _call_with_deadline(download, timeout, spec)
    except (BadInput, Transient):
        raise
    except Exception as err:  # requests / kagglehub errors
        raise _translate(err, spec) from None
    return Path(path), int(got if got is not None else version or 0)
