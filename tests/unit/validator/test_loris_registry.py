"""How a typed CandID is read as LORIS's number (its int column)."""

import pytest

from services.validator.loris_registry import candid_number


@pytest.mark.parametrize(("typed", "number"), [
    ("300001", 300001),
    ("999999", 999999),
    ("012345", None),  # LORIS shows 12345: a leading zero names no candidate, as in LORIS's module
    ("３００００１", None),  # full-width digits pass the \d{6} format rule but are no CandID LORIS writes
    ("30000a", None),
    ("", None),
])
def test_a_typed_candid_is_looked_up_only_as_loris_writes_it(typed, number):
    assert candid_number(typed) == number
