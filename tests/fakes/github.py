"""A local stand-in for GitHub, speaking its wire formats: the OAuth web flow, the
REST API's JSON (users, emails, repositories, branches, hooks) and git's smart
HTTP (through `git http-backend`), on 127.0.0.1 at a free port.

It records every request, so tests can check where a token went and what hook
was registered. The pytest fixtures at the bottom start one server per session
and give each test a clean one with the settings pointing at it.
"""

import base64
import json
import os
import secrets
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.fakes.server import LocalServer

APPS = Path(__file__).resolve().parent.parent / "apps"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Octo",
    "GIT_AUTHOR_EMAIL": "octo@example.com",
    "GIT_COMMITTER_NAME": "Octo",
    "GIT_COMMITTER_EMAIL": "octo@example.com",
}
CLIENT_ID = "Iv1.fakeclientid"
CLIENT_SECRET = "fake-client-secret"
SCOPES = "admin:repo_hook,read:user,repo,user:email"


@dataclass
class User:
    login: str
    id: int
    name: str
    email: str
    token: str
    # False: the token lacks admin:repo_hook, so adding a hook is answered 404.
    can_add_hooks: bool = True


@dataclass
class Repo:
    owner: User
    name: str
    private: bool
    language: str | None
    default_branch: str = "main"
    id: int = 0
    # A bare repository served over git's smart HTTP, or None for metadata only.
    path: Path | None = None
    collaborators: set[str] = field(default_factory=set)
    # The SPDX id GitHub's license detection reports, "NOASSERTION", or None.
    license: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    def visible_to(self, user: User | None) -> bool:
        if not self.private:
            return True
        return user is not None and (user.login == self.owner.login or user.login in self.collaborators)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def license_json(spdx_id: str | None) -> dict | None:
    """GitHub's `license` member of a repository: a simple license object, or null."""
    if spdx_id is None:
        return None
    key = "other" if spdx_id == "NOASSERTION" else spdx_id.lower()
    return {
        "key": key,
        "name": "Other" if key == "other" else spdx_id,
        "spdx_id": spdx_id,
        "url": None if key == "other" else f"https://api.github.com/licenses/{key}",
        "node_id": f"MDc6TGljZW5zZ{key}",
    }


class FakeGitHub(LocalServer):
    def __init__(self, root: Path) -> None:
        super().__init__(_Handler, "fake-github")
        self.root = root
        self.api_url = f"{self.url}/api"
        self.client_id, self.client_secret = CLIENT_ID, CLIENT_SECRET
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.users: dict[str, User] = {}
        self.repos: dict[str, Repo] = {}
        self.codes: dict[str, tuple[str, str]] = {}
        self.hooks: list[dict] = []
        self.requests: list[Recorded] = []
        # Who "approves" on the authorize page: the person at the browser.
        self.signed_in: str | None = None
        # GitHub caps per_page at 100; tests lower it to see pagination.
        self.max_per_page = 100
        self._ids = 1000
        shutil.rmtree(self.root / "git", ignore_errors=True)
        (self.root / "git").mkdir(parents=True)

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def add_user(self, login: str, email: str, name: str = "") -> User:
        user = User(login, self._next_id(), name or login.title(), email, f"gho_{secrets.token_hex(18)}")
        self.users[login] = user
        self.signed_in = self.signed_in or login
        return user

    def add_repository(
        self,
        owner: User,
        name: str,
        *,
        app: str | None = None,
        private: bool = False,
        language: str | None = None,
        default_branch: str = "main",
        license: str | None = None,
    ) -> Repo:
        repo = Repo(owner, name, private, language, default_branch, id=self._next_id(), license=license)
        if app is not None:
            repo.path = self._make_bare(repo, app)
        self.repos[repo.full_name] = repo
        return repo

    def _make_bare(self, repo: Repo, app: str) -> Path:
        work = self.root / "work" / repo.full_name
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(APPS / app, work)
        env = {**os.environ, **GIT_IDENTITY}
        for args in (
            ["git", "init", "-q", "-b", repo.default_branch],
            ["git", "add", "-A"],
            ["git", "commit", "-q", "-m", f"First version of {app}"],
        ):
            subprocess.run(args, cwd=work, env=env, check=True, capture_output=True)
        bare = self.root / "git" / repo.owner.login / f"{repo.name}.git"
        bare.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "clone", "-q", "--bare", "--", str(work), str(bare)], check=True, capture_output=True
        )
        return bare

    def clone_url(self, repo: Repo) -> str:
        return f"{self.url}/git/{repo.full_name}.git"

    def user_for_token(self, token: str) -> User | None:
        return next((u for u in self.users.values() if secrets.compare_digest(u.token, token)), None)

    def seen(self, text: str) -> list[Recorded]:
        """Requests whose path (URL) contains `text`."""
        return [r for r in self.requests if text in r.path]

    # --- JSON in GitHub's documented shapes -----------------------------------

    def user_json(self, user: User) -> dict:
        return {
            "login": user.login,
            "id": user.id,
            "node_id": f"U_{user.id}",
            "avatar_url": f"{self.url}/avatars/{user.login}",
            "html_url": f"{self.url}/{user.login}",
            "url": f"{self.api_url}/users/{user.login}",
            "type": "User",
            "site_admin": False,
            "name": user.name,
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "bio": None,
            "public_repos": sum(1 for r in self.repos.values() if r.owner is user and not r.private),
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }

    def repo_json(self, repo: Repo, user: User | None) -> dict:
        admin = user is not None and user.login == repo.owner.login
        member = user is not None and repo.visible_to(user) and (admin or user.login in repo.collaborators)
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "owner": {"login": repo.owner.login, "id": repo.owner.id, "type": "User"},
            "html_url": f"{self.url}/{repo.full_name}",
            "description": None,
            "fork": False,
            "url": f"{self.api_url}/repos/{repo.full_name}",
            "hooks_url": f"{self.api_url}/repos/{repo.full_name}/hooks",
            "clone_url": self.clone_url(repo),
            "git_url": f"git://127.0.0.1/{repo.full_name}.git",
            "ssh_url": f"git@127.0.0.1:{repo.full_name}.git",
            "default_branch": repo.default_branch,
            "language": repo.language,
            "license": license_json(repo.license),
            "archived": False,
            "disabled": False,
            "pushed_at": "2024-01-01T00:00:00Z",
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "permissions": {
                "admin": admin,
                "maintain": admin,
                "push": member,
                "triage": member,
                "pull": True,
            },
        }

    def branches_of(self, repo: Repo) -> list[dict]:
        if repo.path is None:
            refs = [(repo.default_branch, "0" * 40)]
        else:
            out = subprocess.run(
                ["git", "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads"],
                cwd=repo.path, check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            refs = [tuple(line.split(" ", 1)) for line in out.splitlines() if line]
        return [
            {
                "name": name,
                "commit": {"sha": sha, "url": f"{self.api_url}/repos/{repo.full_name}/commits/{sha}"},
                "protected": False,
            }
            for name, sha in refs
        ]


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeGitHub/1.0"

    def log_message(self, format: str, *args) -> None:
        pass

    @property
    def fake(self) -> FakeGitHub:
        return self.server.fake

    # --- plumbing --------------------------------------------------------------

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(data).encode()
        self._send(status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

    def _message(self, status: int, message: str) -> None:
        self._json(
            status,
            {"message": message, "documentation_url": "https://docs.github.com/rest", "status": str(status)},
        )

    def _handle(self) -> None:
        body = self._body()
        with self.fake.lock:
            self.fake.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body))
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        if path == "/login/oauth/authorize" and self.command == "GET":
            return self._authorize(query)
        if path == "/login/oauth/access_token" and self.command == "POST":
            return self._access_token(body)
        if path.startswith("/api/"):
            return self._api(path[len("/api") :], query, body)
        if path.startswith("/git/"):
            return self._git(path[len("/git") :], parts.query, body)
        return self._send(404, b"Not Found")

    do_GET = do_POST = do_HEAD = _handle

    # --- the web side: OAuth ----------------------------------------------------

    def _authorize(self, query: dict) -> None:
        one = {k: v[0] for k, v in query.items()}
        if one.get("client_id") != self.fake.client_id or not one.get("redirect_uri"):
            return self._send(404, b"The application was not found.")
        user = self.fake.users.get(self.fake.signed_in or "")
        if user is None:
            return self._send(403, b"Nobody is signed in to the fake GitHub.")
        code = secrets.token_hex(10)
        self.fake.codes[code] = (user.login, one["redirect_uri"])
        params = {"code": code, **({"state": one["state"]} if "state" in one else {})}
        separator = "&" if "?" in one["redirect_uri"] else "?"
        return self._send(302, headers={"Location": f"{one['redirect_uri']}{separator}{urlencode(params)}"})

    def _access_token(self, body: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        code = self.fake.codes.pop(form.get("code", ""), None)
        ok = (
            form.get("client_id") == self.fake.client_id
            and form.get("client_secret") == self.fake.client_secret
            and code is not None
            and form.get("redirect_uri", code[1]) == code[1]
        )
        # GitHub answers 200 with an error field, not an error status.
        if not ok:
            answer = {
                "error": "bad_verification_code",
                "error_description": "The code is incorrect or expired.",
            }
        else:
            user = self.fake.users[code[0]]
            answer = {"access_token": user.token, "token_type": "bearer", "scope": SCOPES}
        if "application/json" in self.headers.get("Accept", ""):
            return self._json(200, answer)
        return self._send(
            200, urlencode(answer).encode(), {"Content-Type": "application/x-www-form-urlencoded"}
        )

    # --- the API side ----------------------------------------------------------------

    def _api_user(self) -> User | None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or not token:
            return None
        return self.fake.user_for_token(token.strip())

    def _api(self, path: str, query: dict, body: bytes) -> None:
        user = self._api_user()
        if self.headers.get("Authorization") and user is None:
            return self._message(401, "Bad credentials")
        segments = [s for s in path.split("/") if s]
        if segments[:1] == ["user"]:
            if user is None:
                return self._message(401, "Requires authentication")
            if segments == ["user"]:
                return self._json(200, self.fake.user_json(user))
            if segments == ["user", "emails"]:
                return self._json(
                    200, [{"email": user.email, "primary": True, "verified": True, "visibility": "private"}]
                )
            if segments == ["user", "repos"]:
                return self._user_repos(user, query)
        if len(segments) >= 3 and segments[0] == "repos":
            repo = self.fake.repos.get(f"{segments[1]}/{segments[2]}")
            if repo is None or not repo.visible_to(user):
                return self._message(404, "Not Found")
            rest = segments[3:]
            if rest == [] and self.command == "GET":
                return self._json(200, self.fake.repo_json(repo, user))
            if rest == ["branches"] and self.command == "GET":
                return self._json(200, self.fake.branches_of(repo))
            if rest == ["hooks"] and self.command == "POST":
                return self._create_hook(repo, user, body)
        return self._message(404, "Not Found")

    def _user_repos(self, user: User, query: dict) -> None:
        mine = [r for r in self.fake.repos.values() if r.visible_to(user) and (
            r.owner is user or user.login in r.collaborators)]  # fmt: skip
        per_page = min(int(query.get("per_page", ["30"])[0]), self.fake.max_per_page)
        page = max(1, int(query.get("page", ["1"])[0]))
        last = max(1, -(-len(mine) // per_page))
        chunk = mine[(page - 1) * per_page : page * per_page]
        links = []
        base = f"{self.fake.api_url}/user/repos"
        if page < last:
            links.append(f'<{base}?{urlencode({"per_page": per_page, "page": page + 1})}>; rel="next"')
            links.append(f'<{base}?{urlencode({"per_page": per_page, "page": last})}>; rel="last"')
        headers = {"Link": ", ".join(links)} if links else {}
        return self._json(200, [self.fake.repo_json(r, user) for r in chunk], headers)

    def _create_hook(self, repo: Repo, user: User | None, body: bytes) -> None:
        if user is None:
            return self._message(401, "Requires authentication")
        if user.login != repo.owner.login or not user.can_add_hooks:
            return self._message(404, "Not Found")
        try:
            data = json.loads(body)
        except ValueError:
            return self._message(400, "Problems parsing JSON")
        config = data.get("config") or {}
        if not config.get("url"):
            return self._message(422, "Validation Failed")
        hook_id = self.fake._next_id()
        self.fake.hooks.append(
            {"id": hook_id, "repository": repo.full_name, "events": data.get("events"), "config": config}
        )
        shown = {k: ("********" if k == "secret" else v) for k, v in config.items()}
        return self._json(
            201,
            {
                "type": "Repository",
                "id": hook_id,
                "name": data.get("name", "web"),
                "active": bool(data.get("active", True)),
                "events": data.get("events") or ["push"],
                "config": shown,
                "updated_at": "2024-01-01T00:00:00Z",
                "created_at": "2024-01-01T00:00:00Z",
                "url": f"{self.fake.api_url}/repos/{repo.full_name}/hooks/{hook_id}",
                "ping_url": f"{self.fake.api_url}/repos/{repo.full_name}/hooks/{hook_id}/pings",
            },
        )

    # --- git smart HTTP -------------------------------------------------------------

    def _git_user(self) -> User | None:
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            _, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except ValueError:
            return None
        return self.fake.user_for_token(password)

    def _git(self, path: str, query: str, body: bytes) -> None:
        segments = path.strip("/").split("/")
        if len(segments) < 3 or not segments[1].endswith(".git"):
            return self._send(404, b"Not Found")
        repo = self.fake.repos.get(f"{segments[0]}/{segments[1][: -len('.git')]}")
        rest = "/".join(segments[2:])
        if repo is None or repo.path is None:
            return self._send(404, b"Repository not found.")
        if rest not in ("info/refs", "git-upload-pack") or "receive-pack" in query:
            return self._send(403, b"Pushing is not supported here.")
        if repo.private and not repo.visible_to(self._git_user()):
            return self._send(401, b"Authentication failed", {"WWW-Authenticate": 'Basic realm="GitHub"'})
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.fake.root),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_PROJECT_ROOT": str(self.fake.root / "git"),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{segments[0]}/{segments[1]}/{rest}",
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        for header, variable in (
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
            ("Git-Protocol", "HTTP_GIT_PROTOCOL"),
        ):
            if self.headers.get(header):
                env[variable] = self.headers[header]
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60, check=False
        )
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = result.stdout.partition(b"\n\n")
        status, headers = 200, {}
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split(" ", 1)[0])
            elif name:
                headers[name.strip()] = value.strip()
        headers.pop("Content-Length", None)
        return self._send(status, payload, headers)


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def github_server(tmp_path_factory):
    fake = FakeGitHub(tmp_path_factory.mktemp("fake-github")).start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_github(github_server, settings):
    """A clean fake GitHub, with this installation's settings pointing at it."""
    github_server.reset()
    settings.GITHUB_URL = github_server.url
    settings.GITHUB_API_URL = github_server.api_url
    settings.GITHUB_CLIENT_ID = CLIENT_ID
    settings.GITHUB_CLIENT_SECRET = CLIENT_SECRET
    settings.SOCIALACCOUNT_PROVIDERS = {
        "github": {
            **settings.SOCIALACCOUNT_PROVIDERS.get("github", {}),
            "APPS": [{"client_id": CLIENT_ID, "secret": CLIENT_SECRET, "key": ""}],
        }
    }
    yield github_server
    github_server.reset()


@pytest.fixture(scope="session")
def github_worker_process(worker_factory, github_server):
    # A worker of its own: it must know where GitHub is, which is only known now.
    return worker_factory("github", GITHUB_URL=github_server.url, GITHUB_API_URL=github_server.api_url)


@pytest.fixture
def github_worker(github_worker_process, fake_github, transactional_db, settings, engine_clean_up):
    settings.DEPLOY_QUEUE = github_worker_process.queue
    return github_worker_process
