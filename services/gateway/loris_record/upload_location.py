"""LORIS keeps an upload's path in mri_upload.UploadLocation, a varchar(255): in LORIS site mode an upload whose
path, as the pipeline will see it, would be longer is refused when it is sent, and a row that could still not
hold it (one accepted before this rule, or after the incoming folder changed) is set aside by the keeper.

The path is the operator's incoming folder, then the uploader's own folders (user, upload, attempt), then the
user's file name; the refusal says which of the two is too long."""

from services.common.messages import RuleFailure

MAX_CHARACTERS = 255
# A folder that leaves less room than this for a file name is the operator's to shorten, not the user's name.
MIN_ROOM_FOR_A_NAME = 64


def location_failure(location: str, file_name: str) -> RuleFailure | None:
    """None when LORIS can hold `location` (whose last part is `file_name`); else the failure naming the rule."""
    if len(location) <= MAX_CHARACTERS:
        return None
    room = MAX_CHARACTERS - (len(location) - len(file_name))
    rule = (f"LORIS keeps an upload's path (mri_upload.UploadLocation) in at most {MAX_CHARACTERS} characters, "
            f"and on this site the uploader's folders leave {max(room, 0)} for the file name")
    if room >= MIN_ROOM_FOR_A_NAME:
        return RuleFailure(field="file", code="file_name_too_long",
                           message=f"File name {file_name!r} is {len(file_name)} characters long: {rule}; "
                                   f"give the file a shorter name.")
    return RuleFailure(field="file", code="incoming_path_too_long",
                       message=f"The uploader's incoming folder is too long for LORIS: {rule}; ask the uploader's "
                               f"operator to set a shorter UPLOADER_INCOMING_PATH.")
