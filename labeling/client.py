"""The Label Studio server as the sync sees it: connect with a token, and find or create its projects and storages.

`connect` checks the server before any work: it must answer /health within TIMEOUT seconds (else Transient, exit
75) and accept the token (a refusal is BadInput, exit 2). Projects are found by title (PROJECTS) and created from
their labeling config otherwise, the config kept current; each project has one local-files storage covering its
image folder. The SDK client is imported only when a server answered.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from core.errors import BadInput, Transient

PROJECTS = {"pose": "anime-pose: 11 joints", "tags": "anime-tags: attributes"}  # kind -> project title
DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT = 5.0  # seconds per request: /health then whoami, so a server that hangs is reported within 10 s


@dataclass
class Server:
    url: str
    token: str

    def request(self, path: str, timeout: float = TIMEOUT) -> int:
        """The HTTP status of an authenticated GET on `path`."""
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Token {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status
        except urllib.error.HTTPError as err:
            return err.code

    def check(self) -> None:
        """Transient (75) when the server does not answer; BadInput (2) when it refuses the token."""
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=TIMEOUT) as r:
                if r.status != 200:
                    raise Transient(f"Label Studio at {self.url} is not healthy (HTTP {r.status}); retry later")
        except (urllib.error.URLError, OSError, ValueError) as err:
            msg = f"Label Studio at {self.url} does not answer ({err}); start it with `make labelstudio`"
            raise Transient(msg) from None
        status = self.request("/api/current-user/whoami")
        if status in (401, 403):
            raise BadInput(
                f"Label Studio at {self.url} refused the API token (HTTP {status}): check LABEL_STUDIO_API_KEY"
            )
        if status != 200:
            raise Transient(f"Label Studio at {self.url}: HTTP {status} on whoami; retry later")

    def client(self):
        """The SDK's client (label_studio_sdk.LabelStudio) on this server."""
        from label_studio_sdk import LabelStudio

        return LabelStudio(base_url=self.url, api_key=self.token, timeout=60)


def connect(url: str | None = None, token: str | None = None) -> Server:
    """The checked server at `url` (else LABEL_STUDIO_URL, else DEFAULT_URL); the token defaults to labeling.server's."""
    from labeling import server as ls_server

    url = (url or os.environ.get("LABEL_STUDIO_URL") or DEFAULT_URL).rstrip("/")
    if token is None:
        try:
            token = ls_server.api_token()
        except KeyError as err:
            raise BadInput(f"no Label Studio token: {err}") from None
    srv = Server(url, token)
    srv.check()
    return srv


def find_project(ls, kind: str):
    """The project of `kind` (a key of PROJECTS), found by its title; None when there is none."""
    return next((p for p in ls.projects.list() if p.title == PROJECTS[kind]), None)


def ensure_project(ls, kind: str, label_config: str) -> int:
    """The id of the project of `kind`, created with `label_config` and labeling/configs.project_settings if absent,
    its config and settings updated where they differ."""
    from labeling.configs import project_settings

    settings = project_settings(kind)
    project = find_project(ls, kind)
    if project is None:
        return ls.projects.create(title=PROJECTS[kind], label_config=label_config, **settings).id
    changed = {k: v for k, v in settings.items() if getattr(project, k, None) != v}
    if (project.label_config or "").strip() != label_config.strip():
        changed["label_config"] = label_config
    if changed:
        ls.projects.update(id=project.id, **changed)
    return project.id


def ensure_storage(ls, project: int, folder: Path) -> None:
    """A local-files import storage of `project` covering `folder` (which must lie under the document root)."""
    folder = folder.resolve()
    for st in ls.import_storage.local.list(project=project):
        if Path(st.path or "").resolve() == folder:
            return
    ls.import_storage.local.create(project=project, path=str(folder), title=f"{folder.name} images", use_blob_urls=True)


def existing_refs(ls, project: int) -> set[str]:
    """The `ref_id`s of the tasks already in `project`: what a push never imports again."""
    return {str(t.data.get("ref_id")) for t in ls.tasks.list(project=project, fields="all") if t.data}


def image_url(document_root: Path, path: Path) -> str:
    """The URL Label Studio serves `path` at (local-files serving rooted at `document_root`)."""
    rel = path.resolve().relative_to(document_root.resolve()).as_posix()
    return f"/data/local-files/?d={rel}"
