"""A scheduled run's own workspace: a git clone of the checkout, sharing its DVC cache, remote and MLflow store.

The run never touches the user's branch or working tree. It clones the checkout (at its current commit), points
the clone at the checkout's DVC cache (nothing copied: outputs come back from the cache, so only stale stages run)
and DVC remote, and at the checkout's MLflow store (one registry: evaluate compares with the same champions). After
the stages it records the result as a DVC experiment named by date (`dvc exp save`: the stages already ran one by
one as Prefect tasks, so `dvc exp run` would only run them again) and pushes it: the experiment's git ref to the
checkout (`refs/exps/...`, no branch moves) and its outputs to the DVC remote.

The workspace is where params.yaml's `flows.workspace` says (`location`), outside the checkout, and it is the run's
own: the clone carries a mark (`.git/anime-workspace`, naming the checkout it was cloned from) and `prepare` resets
only a folder with that mark. Anything else there (a person's checkout, a non-empty folder) is refused, so a
misconfigured path never loses uncommitted work. Each run is its own experiment: a name already taken is refused
rather than replaced (no `--force`). A push that fails (remote down, credentials) leaves the experiment in the
workspace, findable with `dvc exp list` there, and is reported by the run instead of failing it.

A person adopts a run's results in the checkout with

    dvc exp show                      # the run's metrics beside the workspace's
    dvc exp apply nightly-2026-11-25-030000  # dvc.lock, metrics/ and params of that run into the working tree
    dvc pull                                 # its outputs (or `dvc checkout`: the cache is shared)
    git add dvc.lock metrics && git commit -m "adopt nightly-2026-11-25-030000"

or turns it into a branch: `dvc exp branch nightly-2026-11-25-030000 nightly-2026-11-25`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from flows.dvcrun import dvc_env

MARK = "anime-workspace"  # in the clone's .git: this folder is a scheduled run's own clone of that checkout


class NotOurs(ValueError):
    """The workspace path holds something a run did not create: it is never reset."""


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "anime-flows",
    "GIT_AUTHOR_EMAIL": "anime-flows@localhost",
    "GIT_COMMITTER_NAME": "anime-flows",
    "GIT_COMMITTER_EMAIL": "anime-flows@localhost",
}


def _run(cmd: list[str], cwd: Path, env: dict | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env or dvc_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} (in {cwd}) exited with {proc.returncode}: {proc.stderr.strip()[-1500:]}")
    return proc.stdout


def _dvc_config(project: Path) -> dict:
    """DVC's merged config of project (tracked .dvc/config, its config.local, the user's and the system's)."""
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        return {"remote": dict(repo.config.get("remote", {})), "core": dict(repo.config.get("core", {}))}


def store_env(origin: Path) -> dict[str, str]:
    """The origin's MLflow store for the workspace's stages (a server in MLFLOW_TRACKING_URI is used as it is)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return {}
    return {"ANIME_MLFLOW_STORE": str(origin / "mlruns")}


def location(origin: Path, configured: str) -> Path:
    """The scheduled runs' workspace: params.yaml's `flows.workspace`, relative to the checkout."""
    ws = Path(configured)
    return (ws if ws.is_absolute() else Path(origin) / ws).resolve()


def prepare(origin: Path, workspace: Path) -> Path:
    """Clone (or refresh) `workspace` from `origin` at origin's HEAD; share its DVC cache and remotes.

    Only a folder this function made (its mark names `origin`) is refreshed; a missing or empty one is made."""
    origin, workspace = origin.resolve(), workspace.resolve()
    if workspace == origin or origin in workspace.parents or workspace in origin.parents:
        raise NotOurs(f"the workspace {workspace} must lie outside the checkout {origin} and not contain it")
    mark = workspace / ".git" / MARK
    if mark.is_file():
        if mark.read_text(encoding="utf-8").strip() != str(origin):
            raise NotOurs(f"{workspace} is a scheduled run's clone of {mark.read_text().strip()}, not of {origin}")
    elif workspace.exists() and any(workspace.iterdir()):
        raise NotOurs(
            f"{workspace} exists and was not made by a scheduled run (no {MARK} mark): it is never reset; "
            "point params.yaml's flows.workspace at a new folder"
        )
    else:
        workspace.parent.mkdir(parents=True, exist_ok=True)
        _run(["git", "clone", "--quiet", "--no-checkout", str(origin), str(workspace)], workspace.parent)
        mark.write_text(str(origin) + "\n", encoding="utf-8")
    _run(["git", "fetch", "--quiet", "origin", "HEAD"], workspace)
    _run(["git", "checkout", "--quiet", "--force", "--detach", "FETCH_HEAD"], workspace)
    _run(["git", "clean", "-fdq"], workspace)  # tracked files exactly as committed; ignored outputs stay
    # the checkout's local config (remote credentials, its default remote) first, then the shared cache and the
    # remotes' absolute URLs (a local remote's relative URL would point into the clone)
    local = origin / ".dvc" / "config.local"
    if local.exists():
        shutil.copyfile(local, workspace / ".dvc" / "config.local")
    config = _dvc_config(origin)
    cache = _run(["dvc", "cache", "dir"], origin).strip()
    _run(["dvc", "config", "--local", "cache.dir", cache], workspace)
    for name, remote in config["remote"].items():
        url = str(remote.get("url", ""))
        if url and "://" not in url:  # a local path: DVC already resolved it against origin's config file
            _run(["dvc", "remote", "modify", "--local", name, "url", str(Path(url).resolve())], workspace)
    # the checkout's outputs from the shared cache; whatever is missing its stage makes again
    subprocess.run(["dvc", "checkout", "--allow-missing", "--quiet"], cwd=workspace, env=dvc_env(), check=False)
    return workspace


def record(workspace: Path, name: str, push: bool = True) -> dict:
    """Save the workspace's state as DVC experiment `name` and push it (git ref to origin, outputs to the remote)."""
    env = dvc_env(GIT_IDENTITY)
    # new files the stages made that git does not ignore (a first metrics file, an uncached output) belong to the
    # run: `dvc exp save` leaves untracked files out, so stage them first (the clone is the run's own)
    _run(["git", "add", "--all"], workspace, env)
    _run(["dvc", "exp", "save", "--name", name], workspace, env)  # a taken name fails: never replaced
    info = {"experiment": name, "pushed": False, "remote": None, "push_error": None}
    if push:
        remote = _default_remote(workspace)
        cmd = ["dvc", "exp", "push", "origin", name]
        if remote is None:
            cmd.insert(-2, "--no-cache")
        try:
            _run(cmd, workspace, env)
            info.update(pushed=True, remote=remote)
        except RuntimeError as err:  # the run and its experiment stand; the report says the push did not
            info.update(push_error=str(err)[-800:], remote=remote)
    return info


def _default_remote(workspace: Path) -> str | None:
    proc = subprocess.run(["dvc", "config", "core.remote"], cwd=workspace, env=dvc_env(), capture_output=True)
    return proc.stdout.decode().strip() or None


# -- retention: the last N scheduled runs' experiments and every adopted one -------------------------------------------

KEEP = 14  # scheduled runs' experiments kept by default: two weeks of nightly runs


def experiments(project: Path, prefix: str = "nightly-") -> list[dict]:
    """The DVC experiments in project whose name starts with `prefix`, oldest first: name, commit, time (the commit's,
    Unix seconds) and whether it was adopted (`adopted`: a commit on HEAD's history holds the same dvc.lock, as after
    `dvc exp apply` and committing it: the record of what ran is that run's)."""
    out = _run(["git", "for-each-ref", "--format=%(refname) %(objectname) %(committerdate:unix)", "refs/exps"], project)
    found = []
    for line in out.splitlines():
        ref, sha, when = line.rsplit(" ", 2)
        name = ref.rsplit("/", 1)[-1]
        if ref.count("/") >= 4 and name.startswith(prefix):  # refs/exps/<2>/<38>/<name>: not the exec/ refs
            found.append({"name": name, "ref": ref, "commit": sha, "time": int(when)})
    locks = set(_run(["git", "log", "--format=%H", "HEAD", "--", "dvc.lock"], project).split())
    adopted = {_blob(project, c) for c in locks} - {None}
    for exp in found:
        exp["adopted"] = _blob(project, exp["commit"]) in adopted
    return sorted(found, key=lambda e: (e["time"], e["name"]))


def _blob(project: Path, commit: str) -> str | None:
    proc = subprocess.run(["git", "rev-parse", f"{commit}:dvc.lock"], cwd=project, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def retain(project: Path, keep: int = KEEP, prefix: str = "nightly-", dry_run: bool = False) -> dict:
    """Remove the scheduled runs' experiments (`prefix`) beyond the newest `keep`, never an adopted one; returns
    {"kept": [...], "removed": [...], "adopted": [...]}. The outputs stay in the DVC cache and remote until
    `dvc gc` (docs/operations.md says which flags keep what)."""
    if keep < 0:
        raise ValueError(f"keep must be 0 or more, not {keep}")
    found = experiments(project, prefix)
    newest = {e["name"] for e in found[len(found) - keep :]} if keep else set()
    adopted = [e["name"] for e in found if e["adopted"]]
    gone = [e for e in found if e["name"] not in newest and not e["adopted"]]
    removed = [e["name"] for e in gone]
    for e in gone if not dry_run else []:  # by its full ref: two baselines may each hold an experiment of a name
        _run(["git", "update-ref", "-d", e["ref"], e["commit"]], project)
    return {"kept": [e["name"] for e in found if e["name"] not in removed], "removed": removed, "adopted": adopted}


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description="Keep the newest scheduled runs' DVC experiments and every adopted one.")
    ap.add_argument("command", choices=["retain"])
    ap.add_argument("--project", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--keep", type=int, default=KEEP, help=f"newest experiments kept (default {KEEP})")
    ap.add_argument("--prefix", default="nightly-", help="the scheduled runs' experiment names start with this")
    ap.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    a = ap.parse_args(argv)
    if a.keep < 0:
        ap.error("--keep must be 0 or more")
    got = retain(a.project, a.keep, a.prefix, a.dry_run)
    verb = "would remove" if a.dry_run else "removed"
    print(f"{verb} {len(got['removed'])}: {' '.join(got['removed']) or '-'}")
    print(f"kept {len(got['kept'])} (adopted: {' '.join(got['adopted']) or 'none'})")


if __name__ == "__main__":
    main()
