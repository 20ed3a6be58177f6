"""`m3o`: the command-line tool for M3O, a client of the REST API (api/)."""

from __future__ import annotations
