"""The database keeps the audit log append-only (issue 16): triggers refuse every UPDATE and
DELETE of a record (TRUNCATE too, on Postgres), whoever sends it, with "audit records are
append-only". The model's own refusals stop only code that goes through `Event.objects`.

Postgres raises SQLSTATE 23001 (restrict_violation) and SQLite RAISE(ABORT), so both
reach Django as an IntegrityError. Emptying the table needs its triggers disabled by its
owner (`ALTER TABLE environments_event DISABLE TRIGGER USER`), which only the tests' flush
does (tests/db_flush.py). pg_dump carries the function and the triggers, so a restore has them.

On SQLite, a later migration that changes this table remakes it without its triggers: it
must run `create` again (tests/test_audit_append_only.py fails if the triggers are gone).
"""

from django.db import migrations

TABLE = "environments_event"
MESSAGE = "audit records are append-only"

POSTGRES = [
    f"""CREATE OR REPLACE FUNCTION m3o_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation',
        DETAIL = TG_OP || ' of ' || TG_TABLE_NAME || ' refused';
END
$$""",
    f"""CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION m3o_audit_append_only()""",
    # Row triggers do not fire on TRUNCATE.
    f"""CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION m3o_audit_append_only()""",
]
POSTGRES_DROP = [
    f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}",
    "DROP FUNCTION IF EXISTS m3o_audit_append_only()",
]
# SQLite has no TRUNCATE; a DELETE without WHERE fires the trigger too (its quick
# truncation is off for a table with triggers).
SQLITE = [
    f"""CREATE TRIGGER {TABLE}_no_{op.lower()} BEFORE {op} ON {TABLE}
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}: {op} of {TABLE} refused'); END"""
    for op in ("UPDATE", "DELETE")
]
SQLITE_DROP = [f"DROP TRIGGER IF EXISTS {TABLE}_no_{op}" for op in ("update", "delete")]


def _statements(schema_editor, by_vendor: dict[str, list[str]]) -> list[str]:
    vendor = schema_editor.connection.vendor
    if vendor not in by_vendor:
        raise NotImplementedError(f"no append-only triggers for {vendor}: the audit log supports Postgres and SQLite")
    return by_vendor[vendor]


def create(apps, schema_editor):
    for statement in _statements(schema_editor, {"postgresql": POSTGRES, "sqlite": SQLITE}):
        schema_editor.execute(statement)


def drop(apps, schema_editor):
    for statement in _statements(schema_editor, {"postgresql": POSTGRES_DROP, "sqlite": SQLITE_DROP}):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("environments", "0005_event_keeps_names"),
    ]

    operations = [
        migrations.RunPython(create, drop),
    ]
