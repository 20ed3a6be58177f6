"""Emptying the database after a transactional test, with DELETE instead of TRUNCATE.

Django empties every table after each transactional test (the worker's, the browser's)
with one TRUNCATE of all of them: on Postgres that makes new files for each of the ~100
tables and their indexes, 2.5-4.5 s here on a busy machine, against 0.3 s for a DELETE
of the few rows a test leaves. The tables are locked first, as TRUNCATE locks them, so a
worker still writing when the test ends waits and then finds the rows gone, as before.
Foreign keys are checked at commit (Django makes them deferrable), so the order of the
DELETEs does not matter. The audit log's table refuses DELETE and TRUNCATE (its triggers,
environments/migrations/0006): the flush turns them off and on again within its own
transaction, so no other connection ever sees them off.
"""

import pytest
from django.db.backends.postgresql.operations import DatabaseOperations

from environments.models import Event

_truncate = DatabaseOperations.sql_flush
AUDIT_TABLE = Event._meta.db_table


def _lock_and_delete(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    if reset_sequences or not tables:
        emptying = _truncate(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        return _audit_triggers_off(self, style, tables, [], emptying)
    names = [style.SQL_FIELD(self.quote_name(table)) for table in tables]
    mode = style.SQL_KEYWORD("IN ACCESS EXCLUSIVE MODE")
    lock = f"{style.SQL_KEYWORD('LOCK TABLE')} {', '.join(names)} {mode};"
    deletes = [f"{style.SQL_KEYWORD('DELETE FROM')} {name};" for name in names]
    return _audit_triggers_off(self, style, tables, [lock], deletes)


def _audit_triggers_off(self, style, tables, locks: list[str], emptying: list[str]) -> list[str]:
    """`emptying`, with the audit table's triggers off around it when it is one of `tables`
    (after the locks, so the flush takes its locks in the same order as before)."""
    if AUDIT_TABLE not in tables:
        return [*locks, *emptying]
    alter = f"{style.SQL_KEYWORD('ALTER TABLE')} {style.SQL_FIELD(self.quote_name(AUDIT_TABLE))}"
    return [*locks, f"{alter} DISABLE TRIGGER USER;", *emptying, f"{alter} ENABLE TRIGGER USER;"]


@pytest.fixture(scope="session", autouse=True)
def _flush_by_delete():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", _lock_and_delete)
        yield
