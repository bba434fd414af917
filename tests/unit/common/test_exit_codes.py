"""What the pipeline's exit codes mean (services.common.exit_codes)."""

import pytest

from services.common.exit_codes import ExitCode, describe_exit_code

# NeuroDB::ExitCodes (Perl) and python/lib/exitcode.py of LORIS-MRI.
LORIS_MRI_CODES = {
    "SUCCESS": 0,
    "BAD_OPTIONS": 1,  # GETOPT_FAILURE
    "NO_PROFILE": 2,  # PROFILE_FAILURE
    "MISSING_ARGUMENT": 3,  # MISSING_ARG
    "DATABASE_SETTINGS": 4,  # DB_SETTINGS_FAILURE
    "INVALID_PATH": 5,
    "INVALID_ARGUMENT": 6,  # INVALID_ARG
    "INVALID_IMPORT": 7,
    "FILE_NOT_UNIQUE": 20,
    "INSERT_FAILURE": 21,
    "CORRUPTED_FILE": 22,
    "SELECT_FAILURE": 23,
    "UPDATE_FAILURE": 24,
    "BAD_CONFIG_SETTING": 25,
    "MISSING_CONFIG_SETTING": 26,
    "INVALID_ENVIRONMENT_VARIABLE": 40,
    "PROJECT_CUSTOMIZATION_FAILURE": 41,
    "EXTRACTION_FAILURE": 60,
    "FILE_TYPE_CHECK_FAILURE": 61,
    "INVALID_DICOM": 62,
    "MISSING_FILES": 63,
    "UNREADABLE_FILE": 64,
    "COPY_FAILURE": 65,
    "CANNOT_CREATE_DIRECTORY": 66,  # CREATE_DIR_FAILURE
    "CLEANUP_FAILURE": 80,
    "MISSING_TOOL_VERSION": 81,
    "PROGRAM_FAILED": 82,  # PROGRAM_EXECUTION_FAILURE
    "TARGET_EXISTS": 83,  # TARGET_EXISTS_NO_CLOBBER
    "UNKNOWN_PROTOCOL": 84,
    "NOT_A_SINGLE_STUDY": 85,
    "CANNOT_GET_SUBJECT_ID": 86,
    "CANNOT_GET_SESSION_ID": 87,
    "CANNOT_CREATE_SESSION": 88,
    "PHANTOM_ENTRY_FAILURE": 150,
    "PATIENT_NAME_MISMATCH": 151,  # PNAME_FILENAME_MISMATCH
    "CANNOT_GET_OUTPUT_LIST": 160,
    "CANNOT_EXTRACT_PATIENT_NAME": 170,  # DICOM_PNAME_EXTRACTION_FAILURE
    "INVALID_DICOM_ARCHIVE": 180,  # INVALID_TARCHIVE
    "CANDIDATE_MISMATCH": 181,
    "NO_VALID_IMAGES_CREATED": 190,  # NO_VALID_MINC_CREATED
    "CANNOT_REGISTER_PROGRAM": 200,  # REGISTER_PROGRAM_FAILURE
}


def test_the_exit_codes_are_exactly_those_of_loris_mri():
    assert {code.name: code.value for code in ExitCode} == LORIS_MRI_CODES


def test_the_exit_code_values_are_the_loris_mri_numbers_in_order():
    assert [code.value for code in ExitCode] == [
        0, 1, 2, 3, 4, 5, 6, 7,
        20, 21, 22, 23, 24, 25, 26,
        40, 41,
        60, 61, 62, 63, 64, 65, 66,
        80, 81, 82, 83, 84, 85, 86, 87, 88,
        150, 151, 160, 170, 180, 181, 190, 200,
    ]


@pytest.mark.parametrize("code", list(ExitCode), ids=[c.name for c in ExitCode])
def test_every_known_exit_code_is_described_by_a_sentence_of_its_own(code):
    description = describe_exit_code(int(code))

    assert description
    assert description == description.strip()
    assert "unknown exit code" not in description
    assert "signal" not in description


def test_no_two_exit_codes_share_a_description():
    descriptions = [describe_exit_code(int(code)) for code in ExitCode]

    assert len(set(descriptions)) == len(descriptions)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (0, "the scan was inserted"),
        (22, "a file in the archive is corrupted"),
        (62, "candidate information in the DICOM files is not valid, or the archive holds files that are not DICOM"),
        (151, "the PatientName in the DICOM files does not match the file name"),
        (181, "the DICOM files belong to another candidate"),
        (190, "no valid MINC or NIfTI image was created"),
    ],
)
def test_some_exit_codes_read_as_these_exact_words(code, expected):
    assert describe_exit_code(code) == expected


@pytest.mark.parametrize(("code", "words"), [
    (-9, "the pipeline was killed by signal 9 (SIGKILL; the system may have run out of memory)"),
    (-15, "the pipeline was killed by signal 15 (SIGTERM: terminated)"),
    (-11, "the pipeline was killed by signal 11 (SIGSEGV: segmentation fault)"),
    (-2, "the pipeline was killed by signal 2 (SIGINT: interrupt)"),
    (-24, "the pipeline was killed by signal 24 (SIGXCPU: CPU time limit exceeded)"),
    (-40, "the pipeline was killed by signal 40 (real-time signal 6)"),
    (-99, "the pipeline was killed by signal 99"),
])
def test_a_negative_code_says_which_signal_killed_the_pipeline_by_number_and_name(code, words):
    assert describe_exit_code(code) == words


def test_a_code_a_shell_returns_for_a_command_killed_by_a_signal_names_the_signal():
    assert describe_exit_code(137) == ("the pipeline failed with an unknown exit code 137, which a shell returns "
                                       "when its command was killed by signal 9 (SIGKILL; the system may have run "
                                       "out of memory)")
    assert describe_exit_code(151) == "the PatientName in the DICOM files does not match the file name"


@pytest.mark.parametrize("code", [8, 19, 27, 99, 201, 255])
def test_a_code_loris_mri_does_not_define_is_named_as_unknown(code):
    assert describe_exit_code(code) == f"the pipeline failed with an unknown exit code {code}"
