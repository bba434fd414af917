"""Exit codes of the insertion pipeline, as LORIS-MRI's NeuroDB::ExitCodes defines them.

The launcher turns a code into words a user can read; the reference pipeline
exits with the same codes so that it can stand in for LORIS-MRI. A negative
code is a pipeline killed by a signal (-9: SIGKILL), as Python reports it.
"""

import signal
from enum import IntEnum


class ExitCode(IntEnum):
    SUCCESS = 0
    BAD_OPTIONS = 1
    NO_PROFILE = 2
    MISSING_ARGUMENT = 3
    DATABASE_SETTINGS = 4
    INVALID_PATH = 5
    INVALID_ARGUMENT = 6
    INVALID_IMPORT = 7
    FILE_NOT_UNIQUE = 20
    INSERT_FAILURE = 21
    CORRUPTED_FILE = 22
    SELECT_FAILURE = 23
    UPDATE_FAILURE = 24
    BAD_CONFIG_SETTING = 25
    MISSING_CONFIG_SETTING = 26
    INVALID_ENVIRONMENT_VARIABLE = 40
    PROJECT_CUSTOMIZATION_FAILURE = 41
    EXTRACTION_FAILURE = 60
    FILE_TYPE_CHECK_FAILURE = 61
    INVALID_DICOM = 62
    MISSING_FILES = 63
    UNREADABLE_FILE = 64
    COPY_FAILURE = 65
    CANNOT_CREATE_DIRECTORY = 66
    CLEANUP_FAILURE = 80
    MISSING_TOOL_VERSION = 81
    PROGRAM_FAILED = 82
    TARGET_EXISTS = 83
    UNKNOWN_PROTOCOL = 84
    NOT_A_SINGLE_STUDY = 85
    CANNOT_GET_SUBJECT_ID = 86
    CANNOT_GET_SESSION_ID = 87
    CANNOT_CREATE_SESSION = 88
    PHANTOM_ENTRY_FAILURE = 150
    PATIENT_NAME_MISMATCH = 151
    CANNOT_GET_OUTPUT_LIST = 160
    CANNOT_EXTRACT_PATIENT_NAME = 170
    INVALID_DICOM_ARCHIVE = 180
    CANDIDATE_MISMATCH = 181
    NO_VALID_IMAGES_CREATED = 190
    CANNOT_REGISTER_PROGRAM = 200


_DESCRIPTIONS = {
    ExitCode.SUCCESS: "the scan was inserted",
    ExitCode.BAD_OPTIONS: "the pipeline was called with bad command-line options",
    ExitCode.NO_PROFILE: "the pipeline found no configuration profile",
    ExitCode.MISSING_ARGUMENT: "the pipeline was called without a required argument",
    ExitCode.DATABASE_SETTINGS: "the pipeline's database settings are wrong",
    ExitCode.INVALID_PATH: "the scan archive was not found at the expected path",
    ExitCode.INVALID_ARGUMENT: "the upload id does not match the scan archive",
    ExitCode.INVALID_IMPORT: "the pipeline could not load one of its modules",
    ExitCode.FILE_NOT_UNIQUE: "this archive was already inserted",
    ExitCode.INSERT_FAILURE: "the pipeline could not insert a record",
    ExitCode.CORRUPTED_FILE: "a file in the archive is corrupted",
    ExitCode.SELECT_FAILURE: "the pipeline could not read a record",
    ExitCode.UPDATE_FAILURE: "the pipeline could not update a record",
    ExitCode.BAD_CONFIG_SETTING: "a pipeline setting has a wrong value",
    ExitCode.MISSING_CONFIG_SETTING: "a pipeline setting is missing",
    ExitCode.INVALID_ENVIRONMENT_VARIABLE: "an environment variable of the pipeline is wrong",
    ExitCode.PROJECT_CUSTOMIZATION_FAILURE: "the project's customisation of the pipeline failed",
    ExitCode.EXTRACTION_FAILURE: "the archive could not be extracted",
    ExitCode.FILE_TYPE_CHECK_FAILURE: "the archive is not of an accepted type",
    ExitCode.INVALID_DICOM: "candidate information in the DICOM files is not valid, "
    "or the archive holds files that are not DICOM",
    ExitCode.MISSING_FILES: "files the pipeline needs are missing from the archive",
    ExitCode.UNREADABLE_FILE: "a file could not be read",
    ExitCode.COPY_FAILURE: "a file could not be copied",
    ExitCode.CANNOT_CREATE_DIRECTORY: "a directory could not be created",
    ExitCode.CLEANUP_FAILURE: "the pipeline could not clean up after itself",
    ExitCode.MISSING_TOOL_VERSION: "the version of a tool the pipeline uses is unknown",
    ExitCode.PROGRAM_FAILED: "a program the pipeline called failed",
    ExitCode.TARGET_EXISTS: "an output file already exists and will not be overwritten",
    ExitCode.UNKNOWN_PROTOCOL: "the scan protocol is unknown",
    ExitCode.NOT_A_SINGLE_STUDY: "the archive holds more than one study",
    ExitCode.CANNOT_GET_SUBJECT_ID: "the subject could not be identified",
    ExitCode.CANNOT_GET_SESSION_ID: "the session could not be identified",
    ExitCode.CANNOT_CREATE_SESSION: "the session could not be created",
    ExitCode.PHANTOM_ENTRY_FAILURE: "the phantom scan could not be recorded",
    ExitCode.PATIENT_NAME_MISMATCH: "the PatientName in the DICOM files does not match the file name",
    ExitCode.CANNOT_GET_OUTPUT_LIST: "the list of output files could not be made",
    ExitCode.CANNOT_EXTRACT_PATIENT_NAME: "the PatientName could not be read from the DICOM files",
    ExitCode.INVALID_DICOM_ARCHIVE: "the DICOM archive is not valid",
    ExitCode.CANDIDATE_MISMATCH: "the DICOM files belong to another candidate",
    ExitCode.NO_VALID_IMAGES_CREATED: "no valid MINC or NIfTI image was created",
    ExitCode.CANNOT_REGISTER_PROGRAM: "the pipeline could not register a program",
}


# A shell exits with 128 + n when its command was killed by signal n (LORIS-MRI's codes in that range win).
_SHELL_SIGNAL_CODES = range(129, 129 + 64)
# What a signal may mean beyond its name: the kernel's out-of-memory killer sends SIGKILL.
_SIGNAL_NOTES = {signal.SIGKILL: "the system may have run out of memory"}


def describe_exit_code(code: int) -> str:
    """A sentence fragment saying what an exit code means, for any integer."""
    try:
        return _DESCRIPTIONS[ExitCode(code)]
    except ValueError:
        if code < 0:
            return f"the pipeline was killed by {describe_signal(-code)}"
        if code in _SHELL_SIGNAL_CODES:
            return (f"the pipeline failed with an unknown exit code {code}, which a shell returns when its command "
                    f"was killed by {describe_signal(code - 128)}")
        return f"the pipeline failed with an unknown exit code {code}"


def describe_signal(number: int) -> str:
    """'signal 11 (SIGSEGV: segmentation fault)', 'signal 9 (SIGKILL; the system may have run out of memory)':
    the number, its name and what it means, as far as they are known, for any number."""
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = None
    try:
        words = signal.strsignal(number)
    except ValueError:
        words = None
    if words and words[1:2].islower():
        words = words[0].lower() + words[1:]  # "Segmentation fault", not "CPU time limit exceeded"
    note = _SIGNAL_NOTES.get(number)
    if name and note:
        return f"signal {number} ({name}; {note})"
    if name and words:
        return f"signal {number} ({name}: {words})"
    return f"signal {number} ({name or words})" if name or words else f"signal {number}"
