"""Why a sign-in is refused other than for a wrong username or password, and the answer's status."""

BUSY_RETRY_AFTER_SECONDS = 1


class SignInRefused(Exception):
    status = 429
    code = "too_many_sign_ins"

    def __init__(self, message: str, retry_after: int | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SignInBusy(SignInRefused):
    """The gateway is checking as many sign-ins as it may."""

    status = 503
    code = "sign_in_busy"

    def __init__(self) -> None:
        super().__init__(f"Too many sign-ins are being checked right now; try again in {BUSY_RETRY_AFTER_SECONDS} "
                         "second.", BUSY_RETRY_AFTER_SECONDS)


class TooManySignIns(SignInRefused):
    """The username, or the client address, failed too often lately."""

    @classmethod
    def for_user(cls, username: str, retry_after: int) -> "TooManySignIns":
        shown = username if len(username) <= 64 else username[:64] + "..."
        return cls(f"Too many failed sign-ins for user {shown}; try again in {retry_after} seconds.", retry_after)

    @classmethod
    def from_address(cls, retry_after: int) -> "TooManySignIns":
        return cls(f"Too many failed sign-ins from your address; try again in {retry_after} seconds.", retry_after)


class AccountRefused(SignInRefused):
    """LORIS site mode: the password is right, but LORIS does not let the account in now (inactive, pending
    approval, outside its dates, or it must change its password)."""

    status = 403
    code = "account_refused"

    def __init__(self, message: str) -> None:
        super().__init__(message, None)


class LorisDatabaseUnavailable(SignInRefused):
    """LORIS site mode: LORIS's database, which holds the users, cannot be reached."""

    status = 503
    code = "loris_database_unavailable"
    RETRY_AFTER_SECONDS = 5

    def __init__(self) -> None:
        super().__init__("The LORIS database cannot be reached right now, so no one can sign in; try again in a "
                         "moment.", self.RETRY_AFTER_SECONDS)
