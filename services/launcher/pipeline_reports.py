"""The structured part of a pipeline's output: `[report] ` lines, each one JSON object with a "type".

    [report] {"type": "step", "name": "Reading DICOM headers", "percent": 35}
    [report] {"type": "tarchive", "tarchive": "DCM_2024-01-05_MTL0001_300001_V1", "study_date": "2024-01-05",
              "md5": "...", "files": 120, "series": [{"number": "3", "description": "T1w", "modality": "MR",
              "files": 40}]}
    [report] {"type": "counts", "minc_created": 3, "minc_inserted": 3}
    [report] {"type": "file", "file": "study/IM0001.dcm", "series": "3", "outcome": "inserted", "reason": null}
    [report] {"type": "summary", "message": "3 series, 120 DICOM files: 3 NIfTI images created and kept."}

Fields a newer pipeline adds are ignored, and so is a patient name in the DICOM archive summary (messages.TarchiveInfo
says why). An object without a "type" is the first form of the protocol:
{"tarchive", "minc_created", "minc_inserted"}. Each report also becomes a log line in words; a line that is not
a report the launcher understands is logged as it is, in the detailed log.
"""

from dataclasses import dataclass
from typing import Annotated, Literal, Union

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from services.common.messages import FileOutcome, TarchiveInfo
from services.common.sizes import count_of
from services.launcher.output_lines import OutputLine

# Outcomes shown as errors in the log: the file is why the run failed, or cannot be used.
_ERROR_OUTCOMES = frozenset({"rejected", "not DICOM"})


class StepReport(BaseModel):
    type: Literal["step"]
    name: str = Field(min_length=1, max_length=1024)
    percent: int = Field(ge=0, le=100)


class TarchiveReport(TarchiveInfo):
    type: Literal["tarchive"]
    tarchive: str = Field(min_length=1, max_length=1024)


class CountsReport(BaseModel):
    type: Literal["counts"]
    minc_created: int | None = Field(default=None, ge=0)
    minc_inserted: int | None = Field(default=None, ge=0)


class FileReport(FileOutcome):
    type: Literal["file"]


class SummaryReport(BaseModel):
    type: Literal["summary"]
    message: str = Field(min_length=1, max_length=4096)


class FactsReport(BaseModel):
    """The protocol's first form, without a type."""

    tarchive: str | None = Field(default=None, min_length=1, max_length=1024)
    minc_created: int | None = Field(default=None, ge=0)
    minc_inserted: int | None = Field(default=None, ge=0)


_typed_report = TypeAdapter(
    Annotated[Union[StepReport, TarchiveReport, CountsReport, FileReport, SummaryReport], Field(discriminator="type")]
)


@dataclass(frozen=True)
class Report:
    """What one report line adds: fields of a PipelineReported event, or one file's outcome; and its log line."""

    line: OutputLine
    fields: dict | None = None
    file: FileOutcome | None = None


def read_report(text: str) -> Report | None:
    """The report on this line, or None when it is not one the launcher understands."""
    try:
        report = _parse(text)
    except (ValueError, ValidationError):
        return None
    match report:
        case StepReport():
            # Detail: Browse shows the step and its percentage, the summary log stays a handful of lines.
            return Report(_info(f"{report.name} ({report.percent}%)", is_verbose=True),
                          fields={"step": report.name, "percent": report.percent})
        case TarchiveReport():
            info = TarchiveInfo.model_validate(report.model_dump(include=set(TarchiveInfo.model_fields)))
            return Report(_info(tarchive_sentence(report.tarchive, info)),
                          fields={"tarchive": report.tarchive, "tarchive_info": info})
        case CountsReport():
            return Report(_info(counts_sentence(report.minc_created, report.minc_inserted)),
                          fields=report.model_dump(include={"minc_created", "minc_inserted"}, exclude_none=True))
        case FileReport():
            outcome = FileOutcome.model_validate(report.model_dump(include=set(FileOutcome.model_fields)))
            return Report(OutputLine(file_sentence(outcome), is_error=outcome.outcome in _ERROR_OUTCOMES,
                                     is_verbose=True), file=outcome)
        case SummaryReport():
            return Report(_info(f"Summary: {report.message}"), fields={"summary": report.message})
        case FactsReport():
            return Report(_info(facts_sentence(report)), fields=report.model_dump(exclude_none=True))


def _parse(text: str) -> BaseModel:
    if "\\u0000" in text:
        raise ValueError("PostgreSQL cannot keep a NUL character in a report: the line is logged as it is")
    raw = TypeAdapter(dict).validate_json(text)
    if "type" in raw:
        return _typed_report.validate_python(raw)
    return FactsReport.model_validate(raw)


def _info(message: str, is_verbose: bool = False) -> OutputLine:
    return OutputLine(message, is_error=False, is_verbose=is_verbose)


def tarchive_sentence(tarchive: str, info: TarchiveInfo) -> str:
    parts = [f"study of {info.study_date}" if info.study_date else "study date unknown",
             f"{count_of(len(info.series), 'series', 'series')}"
             + (f" ({count_of(info.files, 'file')})" if info.files is not None else "")]
    if info.md5:
        parts.append(f"md5 {info.md5}")
    return f"DICOM archive {tarchive}: " + ", ".join(parts) + "."


def counts_sentence(created: int | None, inserted: int | None) -> str:
    parts = []
    if created is not None:
        parts.append(f"{created} created")
    if inserted is not None:
        parts.append(f"{inserted} inserted")
    return "Image files: " + (", ".join(parts) or "none reported") + "."


def file_sentence(outcome: FileOutcome) -> str:
    where = f" (series {outcome.series})" if outcome.series else ""
    reason = f": {outcome.reason}" if outcome.reason else ""
    return f"{outcome.file}{where}: {outcome.outcome}{reason}"


def facts_sentence(report: FactsReport) -> str:
    parts = []
    if report.tarchive is not None:
        parts.append(f"DICOM archive {report.tarchive}")
    if report.minc_created is not None:
        parts.append(f"{report.minc_created} image file(s) created")
    if report.minc_inserted is not None:
        parts.append(f"{report.minc_inserted} inserted")
    return "Pipeline report: " + (", ".join(parts) if parts else "nothing reported") + "."
