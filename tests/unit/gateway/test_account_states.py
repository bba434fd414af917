"""LORIS lets an account in only when it is active, approved, within its dates and need not change its password;
each refusal says why."""

from dataclasses import replace
from datetime import date

import pytest

from services.common.scope import ALL_PERMISSIONS, ALL_SITES, OWN_SITES
from services.gateway.auth.account_states import account_refusal
from services.gateway.auth.loris_accounts import LorisAccount, is_true, uploader_permissions

TODAY = date(2025, 6, 15)
ALLOWED = LorisAccount(username="jo", password_hash=None, active=True, pending_approval=False, active_from=None,
                       active_to=None, password_change_required=False, permissions=frozenset({OWN_SITES}),
                       sites=("MTL",), projects=None)


def test_an_active_approved_account_within_its_dates_is_let_in():
    assert account_refusal(ALLOWED, TODAY) is None
    assert account_refusal(replace(ALLOWED, active_from=TODAY, active_to=TODAY), TODAY) is None


@pytest.mark.parametrize(("change", "message"), [
    ({"active": False}, "The LORIS account jo is inactive: ask your LORIS administrator."),
    ({"pending_approval": True}, "The LORIS account jo is waiting for approval by a LORIS administrator."),
    ({"active_from": date(2025, 6, 16)}, "The LORIS account jo is active only from 2025-06-16."),
    ({"active_to": date(2025, 6, 14)},
     "The LORIS account jo was active until 2025-06-14: ask your LORIS administrator."),
    ({"password_change_required": True},
     "The LORIS account jo must change its password: change it in LORIS, then sign in again."),
])
def test_each_refused_state_has_its_own_message(change, message):
    assert account_refusal(replace(ALLOWED, **change), TODAY) == message


def test_a_superuser_holds_every_uploader_permission_and_other_loris_codes_are_left_out():
    assert uploader_permissions({"superuser"}) == ALL_PERMISSIONS
    assert uploader_permissions({ALL_SITES, "data_entry"}) == {ALL_SITES}


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("false", False), (None, False)])
def test_loris_config_booleans(value, expected):
    assert is_true(value) is expected
