"""Whether LORIS lets an account in now, as LORIS's own sign-in decides: the refusal to tell its user, or None."""

from datetime import date

from services.gateway.auth.loris_accounts import LorisAccount


def account_refusal(account: LorisAccount, today: date) -> str | None:
    name = account.username
    if not account.active:
        return f"The LORIS account {name} is inactive: ask your LORIS administrator."
    if account.pending_approval:
        return f"The LORIS account {name} is waiting for approval by a LORIS administrator."
    if account.active_from is not None and today < account.active_from:
        return f"The LORIS account {name} is active only from {account.active_from.isoformat()}."
    if account.active_to is not None and today > account.active_to:
        return f"The LORIS account {name} was active until {account.active_to.isoformat()}: ask your LORIS " \
               "administrator."
    if account.password_change_required:
        return f"The LORIS account {name} must change its password: change it in LORIS, then sign in again."
    return None
