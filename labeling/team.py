"""The annotators' own accounts on the Label Studio server, so that each annotation names who made it.

    python -m labeling.team add ann@example.com --name "Ann Example"     # account + a password file (mode 600)
    printf '%s' "$PASSWORD" | python -m labeling.team add ann@example.com --password-stdin
    python -m labeling.team list                                         # the team and their exported annotations

Label Studio (open source) has one organisation; each member sees and labels every project in it. Its users API
(POST /api/users/) makes an account without a password, so `add` signs the annotator up as Label Studio's own
invitation link does: the organisation's invite token (GET /api/invite, with the admin's token), then its sign-up
form with the annotator's e-mail and a password. The account is then checked by asking the server who is logged in.
The password is generated (or read from stdin) and written only to `services/labelstudio-team/<e-mail>.env` (mode
600, ignored by git); it is never printed and never on a command line. Hand that file to the annotator privately.

Server and admin token as for the sync: `--url` or LABEL_STUDIO_URL (default http://127.0.0.1:8080), the token from
LABEL_STUDIO_API_KEY or `.labelstudio.env`. The log-in address printed is LABEL_STUDIO_HOST (the public URL behind a
TLS proxy, labeling/network.py) when set. Exit codes: 0 done; 75 the server is down; 2 a refused token, an e-mail
that has an account already, a password file that exists, or a password Label Studio refuses.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.errors import BadInput, Transient, run_main
from labeling.client import TIMEOUT, Server, connect
from labeling.network import is_loopback
from labeling.record import EXPORTS, read_exports

PASSWORDS = Path(__file__).resolve().parent.parent / "services" / "labelstudio-team"  # ignored, like services/
PASSWORD_LENGTHS = (8, 128)  # what Label Studio's PasswordLengthValidator accepts
EMAIL = re.compile(r"[^@\s/\\]+@[^@\s/\\]+\.[^@\s/\\]+")


@dataclass(frozen=True)
class Member:
    id: int
    email: str
    name: str
    joined: str  # ISO date
    last_activity: str  # ISO date, "" when never


class _LoopbackSecureCookies(http.cookiejar.DefaultCookiePolicy):
    """Send cookies marked secure to a server on this machine too, as browsers do for localhost: behind a TLS proxy
    Label Studio marks its cookies secure, while this command talks to it on loopback."""

    def return_ok_secure(self, cookie, request) -> bool:
        host = urllib.parse.urlsplit(request.get_full_url()).hostname or ""
        return is_loopback(host) or super().return_ok_secure(cookie, request)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a sign-up or log-in that worked answers 302: we read it, not follow it


class Session:
    """A browser-like session on the server: cookies kept, Django's CSRF token sent with each form."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.jar = http.cookiejar.CookieJar(_LoopbackSecureCookies())
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def _open(self, path: str, form: dict[str, str] | None = None) -> int:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(urllib.request.Request(self.url + path, data=data), timeout=60) as r:
                r.read()
                return r.status
        except urllib.error.HTTPError as err:
            return err.code
        except (urllib.error.URLError, OSError) as err:
            raise Transient(f"Label Studio at {self.url} does not answer ({err}); retry later") from None

    def submit(self, path: str, form: dict[str, str]) -> int:
        """GET the form's page (Django sets its CSRF cookie), then POST it; the HTTP status of the POST."""
        self._open(path)
        token = next((c.value for c in self.jar if c.name == "csrftoken"), "")
        return self._open(path, {**form, "csrfmiddlewaretoken": token})

    def get_json(self, path: str):
        """The JSON answer of a GET as this session's user; BadInput when the server refuses it."""
        req = urllib.request.Request(self.url + path, headers={"Accept": "application/json"})
        try:
            with self.opener.open(req, timeout=TIMEOUT * 6) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as err:
            raise BadInput(f"Label Studio at {self.url} answered HTTP {err.code} to {path} for this session") from None
        except (urllib.error.URLError, OSError) as err:
            raise Transient(f"Label Studio at {self.url} does not answer ({err}); retry later") from None


def log_in(url: str, email: str, password: str) -> Session:
    """A session logged in through Label Studio's log-in form; BadInput when it refuses the e-mail and password."""
    s = Session(url)
    if s.submit("/user/login/", {"email": email, "password": password}) != 302:
        raise BadInput(f"Label Studio at {s.url} refused the log-in of {email}: check the e-mail and password")
    return s


def members(srv: Server) -> list[Member]:
    """The organisation's members, by id."""
    out = []
    for u in srv.client().users.list():
        name = " ".join(p for p in (u.first_name, u.last_name) if p)
        joined = u.date_joined.date().isoformat() if u.date_joined else ""
        seen = u.last_activity.date().isoformat() if u.last_activity else ""
        out.append(Member(int(u.id), u.email or "", name, joined, seen))
    return sorted(out, key=lambda m: m.id)


def password_file(email: str, folder: Path = PASSWORDS) -> Path:
    return folder / f"{email.lower()}.env"


def _write_secret(path: Path, text: str) -> None:
    """Create `path` with mode 600 (never over an existing file); its folder is made with mode 700."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _check_new(srv: Server, email: str, password: str) -> None:
    if not EMAIL.fullmatch(email):
        raise BadInput(f"{email!r} is not an e-mail address (name@domain)")
    if not PASSWORD_LENGTHS[0] <= len(password) <= PASSWORD_LENGTHS[1]:
        raise BadInput(f"the password must have {PASSWORD_LENGTHS[0]} to {PASSWORD_LENGTHS[1]} characters")
    if any(m.email.lower() == email for m in members(srv)):
        raise BadInput(
            f"{email} has an account on {srv.url} already (`python -m labeling.team list`); an account a restore "
            "made has no password: its owner signs up again under another e-mail, or an admin sets one with "
            "Label Studio's `label-studio reset_password` on the server"
        )


def sign_up(srv: Server, email: str, password: str) -> Session:
    """The annotator's account through the organisation's invitation (sign-up form with its token); returns the
    annotator's logged-in session."""
    invite = srv.client().organizations.invites.get_invite_link()
    token = invite.token or urllib.parse.parse_qs(urllib.parse.urlsplit(invite.invite_url or "").query)["token"][0]
    s = Session(srv.url)
    status = s.submit(f"/user/signup/?token={urllib.parse.quote(token)}", {"email": email, "password": password})
    if status != 302:
        raise BadInput(
            f"Label Studio at {srv.url} refused the sign-up of {email} (HTTP {status}): it takes a password that is "
            "not too like the e-mail, and an address it considers valid"
        )
    return s


def add(srv: Server, email: str, name: str = "", password: str | None = None, folder: Path = PASSWORDS) -> dict:
    """Make `email` an annotator with their own account. With no `password`, one is generated and written to
    `password_file(email, folder)` (mode 600); otherwise nothing is written. Returns the account's id, e-mail and
    the password file (None when none was written)."""
    email = email.strip().lower()
    secret_path = None if password is not None else password_file(email, folder)
    if secret_path is not None and secret_path.exists():
        raise BadInput(f"{secret_path} exists: hand it to its annotator or delete it, then add them again")
    password = password if password is not None else secrets.token_urlsafe(18)
    _check_new(srv, email, password)
    if secret_path is not None:
        public = os.environ.get("LABEL_STUDIO_HOST", "").strip() or srv.url
        _write_secret(
            secret_path,
            f"# Label Studio account of {email}: log in at {public}/user/login/ (made by labeling.team; never commit)\n"
            f"LABEL_STUDIO_URL={public}\nLABEL_STUDIO_USERNAME={email}\nLABEL_STUDIO_PASSWORD={password}\n",
        )
    try:
        me = sign_up(srv, email, password).get_json("/api/current-user/whoami")
    except BaseException:
        if secret_path is not None:
            secret_path.unlink(missing_ok=True)  # no account: the file would only mislead
        raise
    if me.get("email") != email:
        raise BadInput(f"signed up {email}, but the server says {me.get('email')!r} is logged in")
    if name:
        first, _, last = name.strip().partition(" ")
        srv.client().users.update(int(me["id"]), first_name=first, last_name=last.strip())
    return {"id": int(me["id"]), "email": email, "password_file": secret_path}


def annotation_counts(exports: Path = EXPORTS) -> dict[str, Counter]:
    """e-mail -> {kind: annotations in the committed exports}."""
    counts: dict[str, Counter] = {}
    for kind in ("pose", "tags"):
        for task in read_exports(kind, exports):
            for a in task.get("annotations", []):
                if a.get("completed_by"):
                    counts.setdefault(a["completed_by"], Counter())[kind] += 1
    return counts


def team_table(people: list[Member], counts: dict[str, Counter]) -> str:
    rows = [("id", "e-mail", "name", "joined", "last active", "pose", "tags")]
    for m in people:
        c = counts.get(m.email, Counter())
        rows.append((str(m.id), m.email, m.name, m.joined, m.last_activity, str(c["pose"]), str(c["tags"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _login_hint(srv: Server, added: dict) -> str:
    public = os.environ.get("LABEL_STUDIO_HOST", "").strip().rstrip("/") or srv.url
    where = (
        f"the password in {added['password_file']} (mode 600: hand it over privately, then delete it)"
        if added["password_file"]
        else "the password given on stdin"
    )
    return (
        f"{added['email']} (user {added['id']}) joined the organisation and sees every project.\n"
        f"They log in at {public}/user/login/ with their e-mail and {where}."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    server = argparse.ArgumentParser(add_help=False)
    server.add_argument("--url", default=None, help="the Label Studio server (default: LABEL_STUDIO_URL)")
    sub = ap.add_subparsers(dest="command", required=True)
    add_p = sub.add_parser("add", parents=[server], help="give an annotator an account")
    add_p.add_argument("email")
    add_p.add_argument("--name", default="", help="first and last name, shown in Label Studio")
    add_p.add_argument("--password-stdin", action="store_true", help="read the password from stdin (no file)")
    add_p.add_argument("--folder", type=Path, default=PASSWORDS, help="where the password file goes")
    sub.add_parser("list", parents=[server], help="the organisation's members and their annotations in the exports")
    args = ap.parse_args()
    srv = connect(args.url)
    if args.command == "list":
        print(team_table(members(srv), annotation_counts()))
        return
    password = sys.stdin.read().rstrip("\r\n") if args.password_stdin else None
    print(_login_hint(srv, add(srv, args.email, args.name, password, args.folder)))


def cli() -> None:
    """The command (`python -m labeling.team`, `anime-label-team`): errors as one line and the exit code."""
    run_main(main, "labeling.team")


if __name__ == "__main__":
    cli()
