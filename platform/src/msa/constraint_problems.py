"""Database refusals a client can cause, as 4xx problems instead of 500s.

A request that slips past validation and breaks a rule the database enforces (a
CHECK, a unique key, a foreign key, a value out of a column's range) is the
client's doing, not a server fault: its transaction rolled back, so nothing was
written, and the answer says which rule refused it. Only the constraint's name is
told (and logged): never the statement or its parameters, which hold user data.
"""

from __future__ import annotations

import logging

from msa.problems import Problem

_log = logging.getLogger("msa.problems")

# SQLSTATE → (HTTP status, what the rule is)
_REFUSALS = {
    "23505": (409, "a unique rule"),  # unique_violation: the thing exists already
    "23503": (409, "a reference rule"),  # foreign_key_violation: refers to what is not there
    "23P01": (409, "an exclusion rule"),  # exclusion_violation
    "23514": (422, "a check rule"),  # check_violation
    "23502": (422, "a required value"),  # not_null_violation
}
_UNSTORABLE = {  # SQLSTATE class 22 codes that a value sent by a client can cause
    "22001",  # string_data_right_truncation: longer than the column
    "22003",  # numeric_value_out_of_range
    "22007", "22008",  # invalid_datetime_format, datetime_field_overflow
    "22021",  # character_not_in_repertoire: not valid in the database's encoding
    "22P02",  # invalid_text_representation
    "22P05",  # untranslatable_character
}


class ConstraintRefusal(Problem):
    """A write the database refused because of what the request asked for."""


def refusal_of(exc: BaseException | None) -> ConstraintRefusal | None:
    """The 4xx problem for a client-caused database refusal in `exc`'s chain, else None."""
    sqlstate: str | None = None
    constraint: str | None = None
    seen = 0
    while exc is not None and seen < 10:
        code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
        if sqlstate is None and isinstance(code, str):
            sqlstate = code
        constraint = constraint or getattr(exc, "constraint_name", None)
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
        seen += 1
    return None if sqlstate is None else _problem(sqlstate, constraint)


def _problem(sqlstate: str, constraint: str | None) -> ConstraintRefusal | None:
    named = f" ({constraint})" if constraint else ""
    if sqlstate in _REFUSALS:
        status, rule = _REFUSALS[sqlstate]
        _log.info("request refused by %s%s", rule, named)
        return ConstraintRefusal(f"the request breaks {rule} of the data{named}; nothing was "
                                 "written", status=status,
                                 title="Conflict" if status == 409 else "Unprocessable content")
    if sqlstate in _UNSTORABLE:
        _log.info("request refused: a value the database cannot hold (SQLSTATE %s)", sqlstate)
        return ConstraintRefusal("a value in the request cannot be stored; nothing was written",
                                 status=422, title="Unprocessable content")
    return None
