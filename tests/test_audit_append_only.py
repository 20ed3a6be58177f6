"""The database itself keeps the audit log append-only (issue 16): an UPDATE or a DELETE of a
record is refused whoever sends it, through the ORM past the model's own refusals or in raw
SQL, on Postgres and on SQLite (`make run`'s); deleting a service, an environment or a person
leaves the records about them readable; the tests' flush still empties the table.

`tamper_then_delete_the_subjects` runs on either database: in this process on Postgres, and
in a `manage.py shell` of its own on a SQLite file made by the migrations.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management.color import no_style
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.urls import reverse

from deployments.models import Service
from environments.audit import record
from environments.models import Environment, Event

ROOT = Path(__file__).resolve().parent.parent
REFUSED = "audit records are append-only"
TABLE = Event._meta.db_table


def _sql(statement: str, *params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


# Every way to change or remove a record: the ORM's past the model's own refusals
# (`Event.objects` raises TypeError before any SQL is sent), then raw SQL.
TAMPERING = {
    "ORM update": lambda pk: QuerySet.update(Event.objects.filter(pk=pk), detail="changed"),
    "ORM update of the base manager": lambda pk: Event._base_manager.filter(pk=pk).update(user_email="x@x"),
    "ORM delete": lambda pk: Event._base_manager.filter(pk=pk).delete(),
    "SQL UPDATE": lambda pk: _sql("UPDATE environments_event SET detail = %s WHERE id = %s", "changed", pk),
    "SQL DELETE": lambda pk: _sql("DELETE FROM environments_event WHERE id = %s", pk),
    "SQL DELETE of every record": lambda pk: _sql("DELETE FROM environments_event"),
}
if connection.vendor == "postgresql":
    TAMPERING["SQL TRUNCATE"] = lambda pk: _sql("TRUNCATE environments_event")


def _answer(attempt, pk: int) -> str:
    try:
        with transaction.atomic():
            attempt(pk)
    except IntegrityError as exc:
        return "refused" if REFUSED in str(exc) else f"another error: {exc}"
    return "done"


def tamper_then_delete_the_subjects() -> dict:
    """What the database answers to each attempt, and the records left after the service,
    bob (a member who changed something) and alice (with her environment) are deleted."""
    users = get_user_model().objects
    alice = users.create_user("alice", "alice@example.com", "alice-password-1")
    bob = users.create_user("bob", "bob@example.com", "bob-password-1")
    production = Environment.objects.create(owner=alice, name="production")
    web = Service.objects.create(
        environment=production, name="web", repository_url="https://example.com/w.git"
    )
    deploy = record(production, alice, "deploy", "web")
    record(production, bob, "variable", "MODE", changes={"MODE": [None, "one"]})
    record(None, alice, "token", "created laptop")
    answers = {way: _answer(attempt, deploy.pk) for way, attempt in TAMPERING.items()}
    ids = [alice.pk, bob.pk, production.pk]
    web.delete()
    bob.delete()
    alice.delete()  # her environment with her
    connection.check_constraints()  # as a commit would (foreign keys are checked at commit)
    fields = ("action", "detail", "user_email", "environment_name", "user_id", "environment_id")
    return {
        "answers": answers,
        "records": [
            list(row) for row in Event.objects.filter(pk__gte=deploy.pk).order_by("pk").values_list(*fields)
        ],
        "ids": ids,
        "environment left": Environment.objects.filter(pk=ids[2]).exists(),
    }


def assert_append_only(seen: dict) -> None:
    assert seen["answers"] == dict.fromkeys(seen["answers"], "refused")
    assert len(seen["answers"]) >= 6
    alice, bob, production = seen["ids"]
    assert seen["environment left"] is False
    assert seen["records"] == [
        ["deploy", "web", "alice@example.com", "production", alice, production],
        ["variable", "MODE", "bob@example.com", "production", bob, production],
        ["token", "created laptop", "alice@example.com", "", alice, None],
    ]


@pytest.mark.django_db
def test_postgres_refuses_to_change_or_delete_a_record_which_outlives_its_subjects():
    assert connection.vendor == "postgresql"
    assert_append_only(tamper_then_delete_the_subjects())


# On SQLite the djstripe app's tables come from its models: its migrations alone take over a
# minute there. Everything else, the audit log's, goes through the migrations.
ON_SQLITE = """
import json
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
settings.MIGRATION_MODULES = {"djstripe": None}
call_command("migrate", run_syncdb=True, verbosity=0)
from tests.test_audit_append_only import tamper_then_delete_the_subjects
with transaction.atomic():  # nothing it defers to a commit (tasks) is sent
    seen = tamper_then_delete_the_subjects()
    transaction.set_rollback(True)
print("SEEN " + json.dumps(seen))
"""


def test_sqlite_refuses_to_change_or_delete_a_record_which_outlives_its_subjects(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", ON_SQLITE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    seen = [line for line in done.stdout.splitlines() if line.startswith("SEEN ")]
    assert seen, done.stdout + done.stderr
    assert_append_only(json.loads(seen[-1].removeprefix("SEEN ")))


@pytest.mark.django_db
def test_alice_still_reads_what_bob_changed_after_the_service_and_bob_are_deleted(client, alice, bob):
    from deployments import actions, controls, variables
    from environments.actions import add_member, delete_environment
    from tests.test_api import api_client

    web = actions.deploy_repository(
        alice, name="web", repository_url="https://example.com/alice/web.git"
    ).service
    production = web.environment
    add_member(production, bob.email, "admin", alice)
    variables.set_variable(production, "MODE", "one", by=bob)
    controls.delete_service(web, alice)
    bob.delete()
    connection.check_constraints()
    answer = api_client(alice).get(f"/api/audit/?environment={production.pk}").json()
    seen = {(e["user"], e["action"], e["detail"], e["environment_name"]) for e in answer["results"]}
    assert ("bob@example.com", "variable", "set MODE", "production") in seen
    assert ("alice@example.com", "delete", "service web", "production") in seen
    delete_environment(production, alice)  # kept, marked deleted: its history stays with alice
    client.force_login(alice)
    history = client.get(reverse("environment-history", args=[production.pk])).content.decode()
    assert "<td>bob@example.com</td>" in history  # who set MODE
    assert "set MODE" in history
    assert "delete service web" in history


@pytest.mark.django_db(transaction=True)
def test_the_tests_flush_empties_the_audit_log_and_leaves_its_triggers_on(alice):
    record(None, alice, "token", "created laptop")
    connection.ops.execute_sql_flush(connection.ops.sql_flush(no_style(), [TABLE]))
    assert not Event.objects.exists()
    record(None, alice, "token", "created ci")
    with pytest.raises(IntegrityError, match=REFUSED):
        _sql("DELETE FROM environments_event")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
            [TABLE],
        )
        assert sorted(cursor.fetchall()) == [(f"{TABLE}_append_only", "O"), (f"{TABLE}_no_truncate", "O")]
