"""`make backup`: one archive holding everything needed to bring the platform back.

The archive is a plain tar, mode 0600 (it holds the keys that decrypt every
stored secret), with `manifest.json` saying what is in it:

  settings/local.env      `make run`'s settings file (secret key), when there is one
  settings/env            the file named by M3O_ENV_FILE (production's keys and settings)
  database/postgres.dump  pg_dump's custom format, or
  database/db.sqlite3     a consistent copy made with SQLite's backup API
  uploads/                repositories made from `m3o run .` uploads (UPLOADS_DIR)
  ingress/storage/        the proxy's certificates, ACME account and local CA
  ingress/access/         the services' access logs
  portal-proxy/           the portal's own HTTPS proxy's certificates (production mode)
  images/images.tar.gz    `docker save` of the images the running deployments run

Not carried: Redis (queues refill, runtime log lines are lost), the images of
old deployments kept for rollback, the base images (rebuilt by `make setup`),
nginx's configuration (written again from the database). There is no image
registry in the docker runtime, so none is carried.

Run with the platform's settings: `make backup` (settings in var/local.env or
the environment), or with M3O_ENV_FILE=/path/to/env for a settings file that
the processes get from their supervisor.
"""

import argparse
import gzip
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path

FORMAT = 1
MANIFEST = "manifest.json"


class BackupError(Exception):
    """Said to the operator in one sentence; nothing half-written is left."""


# --- settings, before Django starts -------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines, as systemd's EnvironmentFile and portal/env.py read them."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        name = name.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


def env_file() -> Path | None:
    """Production's settings file (scripts/install.sh): M3O_ENV_FILE, else /etc/m3o/m3o.env when present."""
    raw = os.environ.get("M3O_ENV_FILE", "").strip()
    if raw:
        return Path(raw)
    default = Path(os.environ.get("M3O_ETC_DIR", "/etc/m3o")) / "m3o.env"
    return default if default.is_file() else None


def env_file_target() -> Path:
    """Where a restore puts production's settings file."""
    return env_file() or Path(os.environ.get("M3O_ETC_DIR", "/etc/m3o")) / "m3o.env"


def start_django() -> None:
    """Django with the platform's settings; the settings file wins over the environment, as in production."""
    path = env_file()
    if path is not None:
        if not path.is_file():
            raise BackupError(f"M3O_ENV_FILE={path} is not a file")
        os.environ.update(read_env_file(path))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()


def tool(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin")
    if not found:
        raise BackupError(f"`{name}` is not installed on this machine; it is needed here")
    return found


def run(args: list[str], *, env: dict[str, str] | None = None, doing: str) -> None:
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{doing} failed: {(result.stderr or result.stdout).strip()[-2000:]}")


def postgres_env(db: dict) -> dict[str, str]:
    """libpq's variables: the password never appears on a command line."""
    env = {**os.environ, "PGDATABASE": db["NAME"], "PGCONNECT_TIMEOUT": "10"}
    for key, name in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD")):
        if db.get(key):
            env[name] = str(db[key])
    return env


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- the parts -------------------------------------------------------------------


def _database(stage: Path) -> dict:
    from django.db import connection

    db = connection.settings_dict
    target = stage / "database"
    target.mkdir()
    if db["ENGINE"] == "django.db.backends.sqlite3":
        copy = target / "db.sqlite3"
        source = sqlite3.connect(f"file:{db['NAME']}?mode=ro", uri=True, timeout=30)
        try:
            with sqlite3.connect(copy) as dest:
                source.backup(dest)  # a consistent copy while the web process and workers write
        finally:
            source.close()
        return {"engine": "sqlite", "file": "database/db.sqlite3", "source": str(db["NAME"])}
    if "postgresql" not in db["ENGINE"]:
        raise BackupError(f"the database engine {db['ENGINE']} is not one `make backup` knows")
    dump = target / "postgres.dump"
    run(
        [tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "--file", str(dump)],
        env=postgres_env(db),
        doing=f"pg_dump of the database {db['NAME']}",
    )
    return {"engine": "postgres", "file": "database/postgres.dump", "source": str(db["NAME"])}


def _settings_files(stage: Path) -> list[dict]:
    from django.conf import settings

    found = []
    (stage / "settings").mkdir()
    local = Path(settings.LOCAL_SETTINGS_FILE)
    if local.is_file():
        shutil.copy2(local, stage / "settings" / "local.env")
        found.append({"file": "settings/local.env", "path": str(local), "var_dir": str(settings.VAR_DIR)})
    path = env_file()
    if path is not None:
        shutil.copy2(path, stage / "settings" / "env")
        found.append({"file": "settings/env", "path": str(path.resolve())})
    return found


def _copy_tree(source: Path, target: Path) -> int:
    """Copy a folder without following links; return the number of files."""
    if not source.is_dir():
        return 0
    shutil.copytree(source, target, symlinks=True)
    return sum(len(files) for _, _, files in os.walk(target))


def _running_images() -> list[str]:
    from deployments.models import Deployment

    return sorted(
        set(
            Deployment.objects.filter(state=Deployment.State.RUNNING)
            .exclude(image="")
            .values_list("image", flat=True)
        )
    )


def _images(stage: Path, wanted: list[str]) -> dict:
    from deployments.runtime import get_runtime

    runtime = get_runtime()
    present = [image for image in wanted if runtime.image_exists(image)]
    missing = sorted(set(wanted) - set(present))
    entry = {"file": None, "saved": present, "missing": missing}
    if not present:
        return entry
    (stage / "images").mkdir()
    target = stage / "images" / "images.tar.gz"
    saver = subprocess.Popen(
        [tool("docker"), "save", *present], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    with gzip.open(target, "wb", compresslevel=1) as out:
        shutil.copyfileobj(saver.stdout, out, 1 << 20)
    saver.stdout.close()
    if saver.wait() != 0:
        raise BackupError(f"docker save failed: {saver.stderr.read().decode(errors='replace').strip()}")
    entry["file"] = "images/images.tar.gz"
    return entry


def _counts() -> dict[str, int]:
    from django.contrib.auth import get_user_model

    from deployments.models import Deployment, Service, Variable
    from environments.models import Environment

    return {
        "users": get_user_model().objects.count(),
        "environments": Environment.objects.filter(deleted_at__isnull=True).count(),
        "services": Service.objects.count(),
        "running_deployments": Deployment.objects.filter(state=Deployment.State.RUNNING).count(),
        "variables": Variable.objects.count(),
    }


def _git_commit() -> str:
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [tool("git"), "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def create(out: Path, *, images: bool = True) -> dict:
    """Write the archive at `out` (mode 0600) and return its manifest."""
    from django.conf import settings

    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if out.exists():
        raise BackupError(f"{out} exists already; name another file")
    with tempfile.TemporaryDirectory(prefix=".m3o-backup-", dir=out.parent) as tmp:
        stage = Path(tmp)
        os.chmod(stage, 0o700)
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "platform_name": settings.PLATFORM_NAME,
            "code_commit": _git_commit(),
            "settings": _settings_files(stage),
            "database": _database(stage),
            "counts": _counts(),
            "uploads": {
                "file": "uploads",
                "files": _copy_tree(Path(settings.UPLOADS_DIR), stage / "uploads"),
                "source": str(settings.UPLOADS_DIR),
            },
            "ingress": {
                "file": "ingress",
                "files": sum(
                    _copy_tree(Path(settings.INGRESS_STATE_DIR) / part, stage / "ingress" / part)
                    for part in ("storage", "access")
                )
                + _copy_tree(Path(settings.VAR_DIR) / "portal-proxy", stage / "portal-proxy"),
                "source": str(settings.INGRESS_STATE_DIR),
                # The portal's own HTTPS proxy (production mode): its certificates and local CA.
                "portal_proxy": str(Path(settings.VAR_DIR) / "portal-proxy"),
            },
            "images": _images(stage, _running_images())
            if images
            else {"file": None, "saved": [], "missing": []},
            "registry": None,
        }
        manifest["checksums"] = {
            str(path.relative_to(stage)): sha256(path)
            for path in sorted(stage.rglob("*"))
            if path.is_file()
            and not path.is_symlink()
            and path.parts[len(stage.parts)] in ("database", "images")
        }
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        partial = out.with_name(f".{out.name}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w") as archive:
                archive.add(stage / MANIFEST, arcname=MANIFEST)  # first, so a reader finds it at once
                for child in sorted(stage.iterdir()):
                    if child.name != MANIFEST:
                        archive.add(child, arcname=child.name)
            os.replace(partial, out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return manifest


def describe(out: Path, manifest: dict) -> str:
    counts = manifest["counts"]
    images = manifest["images"]
    lines = [
        f"Backup written to {out} ({out.stat().st_size / 1e6:.1f} MB, mode 0600). It holds:",
        f"  database ({manifest['database']['engine']}): {counts['users']} users, "
        f"{counts['environments']} environments, {counts['services']} services, "
        f"{counts['running_deployments']} running deployments, {counts['variables']} variables and secrets",
        "  settings and keys: "
        + (
            ", ".join(entry["path"] for entry in manifest["settings"])
            or "none found (settings come from the environment)"
        ),
        f"  uploads: {manifest['uploads']['files']} files from {manifest['uploads']['source']}",
        f"  proxy state and certificates: {manifest['ingress']['files']} files "
        f"from {manifest['ingress']['source']} and {manifest['ingress']['portal_proxy']}",
        f"  images of the running deployments: {len(images['saved'])}",
        "  registry: none (the docker runtime keeps its images in the engine)",
    ]
    if images["missing"]:
        lines.append(f"  not found on the engine, rebuilt at restore: {', '.join(images['missing'])}")
    if not manifest["settings"]:
        lines.append(
            "WARNING: no settings file was found: keep SECRET_KEY and ENCRYPTION_KEYS safe yourself, "
            "or set M3O_ENV_FILE; without them the secrets in this backup cannot be read."
        )
    lines.append("It holds the keys to every stored secret: copy it off this machine and keep it private.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make backup", description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="the archive to write (default: var/backups/m3o-backup-<time>.tar)")
    parser.add_argument("--no-images", action="store_true", help="leave the images out; restore rebuilds")
    args = parser.parse_args(argv)
    try:
        start_django()
        from django.conf import settings

        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        out = Path(args.out) if args.out else Path(settings.VAR_DIR) / "backups" / f"m3o-backup-{stamp}.tar"
        manifest = create(out, images=not args.no_images)
    except BackupError as exc:
        print(f"Backup failed: {exc}", file=sys.stderr)
        return 1
    print(describe(out.resolve(), manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
