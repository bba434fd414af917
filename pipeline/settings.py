"""The pipeline's settings, from UPLOADER_* environment variables; a wrong one fails the run with exit 25."""

import difflib
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydicom.datadict import keyword_dict

from pipeline import PipelineFailure
from pipeline.archive import ArchiveLimits
from services.common.exit_codes import ExitCode
from services.common.loris_url import LorisDatabaseAddress

# Tags of DICOM PS3.15's basic confidentiality profile that name or locate a
# person. Left out on purpose: InstitutionName (most scans carry it, and it
# names a place, not a person), the patient's sex, age, size and weight
# (research data), and dates other than the birth date (LORIS keeps StudyDate).
DEFAULT_IDENTIFYING_TAGS = (
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientBirthName",
    "PatientMotherBirthName",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "OtherPatientNames",
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "MedicalRecordLocator",
    "MilitaryRank",
    "BranchOfService",
    "PatientReligiousPreference",
    "RegionOfResidence",
    "CountryOfResidence",
    "ReferringPhysicianName",
    "ReferringPhysicianAddress",
    "ReferringPhysicianTelephoneNumbers",
    "InstitutionAddress",
    "PhysiciansOfRecord",
    "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy",
    "RequestingPhysician",
    "OperatorsName",
)


class PipelineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UPLOADER_")

    identifying_tags: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_IDENTIFYING_TAGS,
        description="DICOM keywords, comma-separated, that must be empty or absent in every file (top-level "
                    "attributes); empty: none is checked. An unknown keyword fails the run with exit 25 and a "
                    "\"did you mean\". The default: the tags of DICOM PS3.15's basic confidentiality profile that "
                    "name or locate a person; InstitutionName is left out (most scans carry it; it names a place, "
                    "not a person)")
    dcm2niix: str = Field(
        default="",
        description="the dcm2niix program, a path or a name on PATH; empty: the `dcm2niix` next to the pipeline's "
                    "Python (the venv's), else PATH's. One that cannot be run fails the run with exit 25")
    loris_mri_database_url: str = Field(
        default="",
        description="LORIS site mode of the reference pipeline (`--loris-upload-id`, as `make run LORIS=1` runs "
                    "it): the LORIS database as LORIS-MRI's own MariaDB user, `mysql://user:password@host:3306/"
                    "database`, where the run reads its `mri_upload` row, spools its messages into "
                    "`notification_spool` and records the insertion (a `tarchive` row, the row's flags and counts), "
                    "as `imaging_upload_file.pl` does. Not the uploader's `UPLOADER_LORIS_DATABASE_URL`: its user may "
                    "not write `tarchive`. Unset with `--loris-upload-id`: exit 4")

    @field_validator("loris_mri_database_url")
    @classmethod
    def _mysql_url(cls, value: str) -> str:
        if value:
            LorisDatabaseAddress.from_url(value)
        return value

    @field_validator("identifying_tags", mode="before")
    @classmethod
    def _known_keywords(cls, value: object) -> object:
        if isinstance(value, str):
            value = [keyword.strip() for keyword in value.split(",") if keyword.strip()]
        for keyword in value:
            if keyword not in keyword_dict:
                close = difflib.get_close_matches(keyword, keyword_dict, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ValueError(f"{keyword} is not a DICOM keyword{hint}")
        return tuple(value)


def load_settings() -> tuple[PipelineSettings, ArchiveLimits]:
    try:
        return PipelineSettings(), ArchiveLimits()
    except ValidationError as invalid:
        problem = invalid.errors()[0]
        prefix = "UPLOADER_ARCHIVE_" if invalid.title == ArchiveLimits.__name__ else "UPLOADER_"
        setting = prefix + str(problem["loc"][0]).upper() if problem["loc"] else invalid.title
        reason = problem["msg"].removeprefix("Value error, ")
        raise PipelineFailure(
            ExitCode.BAD_CONFIG_SETTING,
            f"The pipeline setting {setting} is wrong: {reason}.",
            f"Ask your LORIS administrator to correct {setting}.",
        ) from invalid
