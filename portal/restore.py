"""`make restore ARCHIVE=...`: a fresh machine or checkout back to the state of a backup.

In order: the settings file first (Django reads the keys from it), then the
database (into an empty one; FORCE=1 replaces one that has users), the
migrations of this code, uploads, the proxy's certificates and access logs,
and the images of the running deployments (`docker load`). Then one pass of
the reconciler starts every deployment that was running, with its variables
and secrets decrypted by the restored keys, and loads the proxy's routes; the
workers' periodic passes keep at it from there. A running deployment whose
image the archive does not carry (made with --no-images, or gone from the
engine at backup time) is deployed again from its repository.

Stop the platform's web process, worker and beat before a restore.
"""

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tarfile
import tempfile
from pathlib import Path

from portal.backup import (
    FORMAT,
    MANIFEST,
    BackupError,
    env_file_target,
    postgres_env,
    read_env_file,
    run,
    sha256,
    start_django,
    tool,
)

ROOT = Path(__file__).resolve().parent.parent


def _extract(archive: Path, into: Path, *, images: bool) -> None:
    """Everything but the images, or the images alone (the largest part, needed last)."""
    if not archive.is_file():
        raise BackupError(f"{archive} is not a file")
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("images/") == images]
            # The data filter refuses links out of the folder, absolute names and devices.
            tar.extractall(into, members=members, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{archive} is not a readable backup: {exc}") from None


def _check(archive: Path, into: Path, manifest: dict, *, images: bool) -> None:
    for name, digest in manifest.get("checksums", {}).items():
        if name.startswith("images/") != images:
            continue
        if not (into / name).is_file() or sha256(into / name) != digest:
            raise BackupError(f"{archive}: {name} is damaged (its checksum does not match the manifest)")


def _unpack(archive: Path, into: Path) -> dict:
    """Everything but the images, checked against the manifest; return the manifest."""
    _extract(archive, into, images=False)
    try:
        manifest = json.loads((into / MANIFEST).read_text())
    except (OSError, ValueError):
        raise BackupError(f"{archive} has no {MANIFEST}: it was not written by `make backup`") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive} is of format {manifest.get('format')}; this code reads format {FORMAT}")
    _check(archive, into, manifest, images=False)
    return manifest


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        kept = path.with_name(path.name + ".before-restore")
        shutil.copy2(path, kept)
        os.chmod(kept, 0o600)
    tmp = path.with_name(f".{path.name}.restoring")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _settings(stage: Path, manifest: dict) -> list[str]:
    """Put the settings files in place before Django reads them; return where they went."""
    placed = []
    for entry in manifest["settings"]:
        text = (stage / entry["file"]).read_text()
        if entry["file"] == "settings/local.env":
            var_dir = Path(os.environ.get("M3O_VAR_DIR", str(ROOT / "var")))
            # This checkout may sit elsewhere than the backed-up one: its SQLite file is under its own var/.
            old = f"sqlite:///{entry['var_dir']}/"
            text = text.replace(f"DATABASE_URL={old}", f"DATABASE_URL=sqlite:///{var_dir}/")
            target = var_dir / "local.env"
        else:
            target = env_file_target()
            text = _keep_this_machines_database(text, target)
        _write_private(target, text)
        placed.append(str(target))
    return placed


def _keep_this_machines_database(text: str, target: Path) -> str:
    """`make install` on the new machine made its own database role and password: keep its DATABASE_URL.

    Everything else (the keys above all) comes from the backup.
    """
    if not target.is_file():
        return text
    ours = read_env_file(target).get("DATABASE_URL")
    if not ours:
        return text
    lines = [line for line in text.splitlines() if not line.strip().startswith("DATABASE_URL=")]
    lines.append(f"DATABASE_URL={ours}")
    return "\n".join(lines) + "\n"


def _has_users(db: dict) -> bool:
    from django.db import connection
    from django.db.utils import DatabaseError

    if db["ENGINE"] == "django.db.backends.sqlite3" and not Path(db["NAME"]).exists():
        return False
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM auth_user LIMIT 1")
            return cursor.fetchone() is not None
    except DatabaseError:
        return False  # no tables yet
    finally:
        connection.close()


def _create_postgres_database(db: dict) -> None:
    """An empty database of that name, when the server has none (a fresh machine)."""
    import psycopg
    from psycopg import sql

    params = {"host": db.get("HOST") or None, "port": db.get("PORT") or None, "user": db.get("USER") or None}
    params = {k: v for k, v in params.items() if v}
    if db.get("PASSWORD"):
        params["password"] = db["PASSWORD"]
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=10, **params) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            return
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))


def _database(stage: Path, manifest: dict, force: bool) -> None:
    from django.db import connection

    db = connection.settings_dict
    kind = manifest["database"]["engine"]
    ours = "sqlite" if db["ENGINE"] == "django.db.backends.sqlite3" else "postgres"
    if kind != ours:
        raise BackupError(
            f"the backup holds a {kind} database and this platform is set up for {ours} (DATABASE_URL); "
            "restore on a machine set up like the one backed up"
        )
    if ours == "postgres":
        _create_postgres_database(db)
    if _has_users(db) and not force:
        raise BackupError(
            f"the database {db['NAME']} already has users: restore into an empty one, "
            "or run again with FORCE=1 to replace everything in it"
        )
    source = stage / manifest["database"]["file"]
    if ours == "sqlite":
        target = Path(db["NAME"])
        target.parent.mkdir(parents=True, exist_ok=True)
        copy = target.with_name(f".{target.name}.restoring")
        with sqlite3.connect(source) as src, sqlite3.connect(copy) as dest:
            src.backup(dest)
        for suffix in ("-wal", "-shm"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        os.replace(copy, target)
        return
    from django.db.utils import DatabaseError

    with connection.cursor() as cursor:  # an empty schema: pg_restore then makes every table anew
        try:
            cursor.execute("DROP SCHEMA IF EXISTS public CASCADE")
            cursor.execute("CREATE SCHEMA IF NOT EXISTS public")
        except DatabaseError:  # a role that does not own the schema: remove what it owns
            cursor.execute("DROP OWNED BY CURRENT_USER")
    connection.close()
    run(
        [tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
         "--dbname", db["NAME"], str(source)],
        env=postgres_env(db),
        doing="pg_restore",
    )  # fmt: skip


def _replace_tree(source: Path, target: Path) -> int:
    if not source.is_dir():
        return 0
    existed = target.is_dir()
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    _own_like(target, target if existed else target.parent)
    return sum(len(files) for _, _, files in os.walk(source))


def _own_like(target: Path, reference: Path) -> None:
    """Restored files belong to whoever owns the folder they go to (the web process's user in production)."""
    if os.geteuid() != 0:
        return
    owner = reference.stat()
    for folder, dirs, files in os.walk(target):
        for name in [".", *dirs, *files]:
            os.lchown(Path(folder) / name, owner.st_uid, owner.st_gid)


def _images(archive: Path, stage: Path, manifest: dict) -> int:
    entry = manifest["images"]
    if not entry.get("file"):
        return 0
    _extract(archive, stage, images=True)
    _check(archive, stage, manifest, images=True)
    run([tool("docker"), "load", "--quiet", "--input", str(stage / entry["file"])], doing="docker load")
    return len(entry["saved"])


def _redeploy_missing_images() -> list[str]:
    """Running deployments whose image is not on this engine are built again from their source."""
    from deployments import actions
    from deployments.models import Deployment
    from deployments.runtime import get_runtime

    runtime = get_runtime()
    redeployed = []
    running = Deployment.objects.filter(state=Deployment.State.RUNNING).select_related("service__environment")
    for deployment in running:
        if deployment.image and runtime.image_exists(deployment.image):
            continue
        actions.request_deploy(deployment.service)
        redeployed.append(f"{deployment.service.name} ({deployment.service.environment.name})")
    return redeployed


def restore(archive: Path, *, force: bool = False) -> list[str]:
    """Restore everything in the archive; return what was done, for the operator."""
    beside = archive.resolve().parent  # room for the images, unlike a small /tmp; unless read-only
    with tempfile.TemporaryDirectory(
        prefix=".m3o-restore-", dir=beside if os.access(beside, os.W_OK) else None
    ) as tmp:
        stage = Path(tmp)
        os.chmod(stage, 0o700)
        manifest = _unpack(archive, stage)
        placed = _settings(stage, manifest)
        start_django()
        from django.conf import settings
        from django.core.management import call_command

        if manifest["platform_name"] != settings.PLATFORM_NAME:
            raise BackupError(
                f"the backup is of the platform {manifest['platform_name']!r} and this one is named "
                f"{settings.PLATFORM_NAME!r} (PLATFORM_NAME): set it the same"
            )
        _database(stage, manifest, force)
        call_command("migrate", "--noinput", verbosity=0)
        uploads = _replace_tree(stage / "uploads", Path(settings.UPLOADS_DIR))
        ingress = sum(
            _replace_tree(stage / "ingress" / part, Path(settings.INGRESS_STATE_DIR) / part)
            for part in ("storage", "access")
        ) + _replace_tree(stage / "portal-proxy", Path(settings.VAR_DIR) / "portal-proxy")
        images = _images(archive, stage, manifest)
    redeployed = _redeploy_missing_images()
    from deployments.reconcile import reconcile

    changes = reconcile(budget=10_000) or []
    counts = manifest["counts"]
    started = sum(change.startswith("started deployment") for change in changes)
    done = [
        f"Restored the backup of {manifest['created_at']} "
        f"(code {manifest['code_commit'][:12] or 'unknown'}):",
        "  settings and keys: " + (", ".join(placed) or "none in the backup; they come from the environment"),
        f"  database: {counts['users']} users, {counts['environments']} environments, "
        f"{counts['services']} services, {counts['variables']} variables and secrets",
        f"  uploads: {uploads} files in {settings.UPLOADS_DIR}",
        f"  proxy state and certificates: {ingress} files in {settings.INGRESS_STATE_DIR}",
        f"  images loaded: {images}",
        f"  started again by the reconciler: {started} deployments",
    ]
    if redeployed:
        done.append(f"  deployed again from their repositories (no image): {', '.join(redeployed)}")
    done.append("Start the platform's processes (make run, or the service manager) to serve the dashboard.")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make restore", description=__doc__.splitlines()[0])
    parser.add_argument("archive", help="the file `make backup` wrote")
    parser.add_argument("--force", action="store_true", help="replace a database that already has users")
    args = parser.parse_args(argv)
    try:
        done = restore(Path(args.archive), force=args.force)
    except BackupError as exc:
        print(f"Restore failed: {exc}", file=sys.stderr)
        return 1
    print("\n".join(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
