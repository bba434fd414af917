// The Browse tab: every upload the user may see, filtered, sorted by upload date and paged. Rows of uploads
// still Not Started or In Progress refresh by themselves.

import { call } from "./api.js";
import { dateTime, orDash, progressLabel, yesNo, FINISHED } from "./format.js";
import { RefreshingView } from "./refreshing_view.js";

const $ = (id) => document.getElementById(id);
const REFRESH_SECONDS = 3;
const COLUMNS = [
  (u) => uploadIdCell(u),
  (u) => progressCell(u),
  (u) => orDash(u.candid),
  (u) => orDash(u.pscid),
  (u) => orDash(u.visit_label),
  (u) => orDash(u.site),
  (u) => yesNo(u.is_phantom),
  (u) => orDash(u.file_name),
  (u) => dateTime(u.uploaded_at),
  (u) => orDash(u.uploaded_by),
  (u) => tarchiveCell(u),
  (u) => orDash(u.minc_inserted),
  (u) => orDash(u.minc_created),
];
const FILE_COLUMN = 7;

/** The upload's id, a link to its log; in LORIS site mode LORIS's own UploadID under it, within the column's
 * width (its header's). */
function uploadIdCell(upload) {
  const id = link(upload.upload_id);
  if (upload.loris_upload_id === null || upload.loris_upload_id === undefined) return id;
  const cell = document.createElement("div");
  const loris = note("loris-upload-id", `LORIS ${upload.loris_upload_id}`);
  loris.title = `LORIS UploadID ${upload.loris_upload_id}`;
  cell.append(id, loris);
  return cell;
}

/** The progress label; while In Progress the run's percentage and step, after a Failure its reason. */
function progressCell(upload) {
  const cell = document.createElement("div");
  cell.append(progressLabel(upload.progress));
  if (upload.progress === "In Progress" && upload.percent !== null && upload.percent !== undefined) {
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = upload.percent;
    bar.className = "run-percent";
    bar.setAttribute("aria-label", `Upload ${upload.upload_id}: ${upload.percent}% done`);
    cell.append(bar, note("run-step", `${upload.percent}%${upload.step ? ` · ${upload.step}` : ""}`));
  } else if (upload.progress === "Failure" && upload.failure) {
    cell.append(note("failure-reason", upload.failure));
  }
  return cell;
}

/** The DICOM archive's name, and its study date, series and files from the tarchive info. */
function tarchiveCell(upload) {
  if (!upload.tarchive) return "—";
  const cell = document.createElement("div");
  cell.append(note("tarchive-name", upload.tarchive));
  const info = upload.tarchive_info;
  if (info) {
    const parts = [info.study_date ? `Study ${info.study_date}` : "Study date unknown", plural(info.series.length, "series", "series")];
    if (info.files !== null && info.files !== undefined) parts.push(plural(info.files, "file"));
    const details = note("tarchive-details", parts.join(" · "));
    details.title = [...info.series.map(describeSeries), info.md5 ? `md5 ${info.md5}` : ""].filter(Boolean).join("\n");
    cell.append(details);
  }
  return cell;
}

function describeSeries(series) {
  const name = [series.description, series.modality && `(${series.modality})`].filter(Boolean).join(" ");
  return `Series ${series.number ?? "?"}${name ? ` ${name}` : ""}: ${plural(series.files, "file")}`;
}

function plural(count, noun, nouns = `${noun}s`) {
  return `${count} ${count === 1 ? noun : nouns}`;
}

function note(className, text) {
  const element = document.createElement("div");
  element.className = className;
  element.textContent = text;
  return element;
}

function link(uploadId) {
  const a = document.createElement("a");
  a.href = `#/log/${uploadId}`;
  a.textContent = String(uploadId);
  a.setAttribute("aria-label", `Upload ${uploadId}: open its log`);
  return a;
}

export class Browse extends RefreshingView {
  constructor(openLog) {
    super();
    this.openLog = openLog;
    this.page = 1;
    this.sort = "-uploaded_at";
    this.filters = {};
    this.total = 0;
    $("browse-filters").addEventListener("submit", (event) => { event.preventDefault(); this.applyFilters(); });
    $("browse-filters").addEventListener("reset", () => setTimeout(() => this.applyFilters(), 0));
    for (const id of ["filter-phantom", "filter-progress"]) $(id).addEventListener("change", () => this.applyFilters());
    $("sort-by-date").addEventListener("click", () => this.toggleSort());
    $("page-previous").addEventListener("click", () => this.goTo(this.page - 1));
    $("page-next").addEventListener("click", () => this.goTo(this.page + 1));
    $("page-size").addEventListener("change", () => this.goTo(1));
    $("browse-refresh").addEventListener("click", () => this.load());
  }

  applyFilters() {
    const form = $("browse-filters");
    this.filters = {};
    for (const element of form.elements) {
      if (element.name && element.value.trim() !== "") this.filters[element.name] = element.value.trim();
    }
    this.goTo(1);
  }

  toggleSort() {
    this.sort = this.sort === "-uploaded_at" ? "uploaded_at" : "-uploaded_at";
    $("sort-header").setAttribute("aria-sort", this.sort === "-uploaded_at" ? "descending" : "ascending");
    this.goTo(1);
  }

  goTo(page) {
    this.page = Math.max(1, page);
    this.load();
  }

  query() {
    const params = new URLSearchParams({
      ...this.filters, sort: this.sort, page: String(this.page), page_size: $("page-size").value,
    });
    return `/api/v1/uploads?${params}`;
  }

  async load() {
    const number = this.beginLoad();
    try {
      const page = await call("GET", this.query());
      if (!this.isLatest(number)) return; // a newer view was asked for meanwhile
      $("browse-error").textContent = "";
      this.total = page.total;
      this.render(page);
      this.scheduleRefresh(page.items);
    } catch (error) {
      if (!this.isLatest(number)) return;
      $("browse-error").textContent = error.message;
      this.later(REFRESH_SECONDS, () => this.load());
    }
  }

  scheduleRefresh(items) {
    if (items.some((u) => !FINISHED.has(u.progress))) this.later(REFRESH_SECONDS, () => this.refreshUnfinished());
  }

  /** The same page again; only the rows already shown are updated, so the table does not jump. */
  async refreshUnfinished() {
    if (!this.active) return;
    const number = this.loadNumber;
    try {
      const page = await call("GET", this.query());
      if (!this.isLatest(number)) return;
      $("browse-error").textContent = "";
      const fresh = new Map(page.items.map((u) => [String(u.upload_id), u]));
      for (const row of $("browse-rows").querySelectorAll("tr[data-upload-id]")) {
        const upload = fresh.get(row.dataset.uploadId);
        if (upload) row.replaceWith(this.row(upload));
      }
      this.scheduleRefresh(page.items);
    } catch (error) {
      $("browse-error").textContent = error.message;
      this.later(REFRESH_SECONDS, () => this.refreshUnfinished());
    }
  }

  render(page) {
    const rows = $("browse-rows");
    rows.replaceChildren(...page.items.map((u) => this.row(u)));
    if (page.items.length === 0) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = COLUMNS.length;
      td.className = "empty";
      td.textContent = page.total === 0 ? "No uploads match." : "No uploads on this page.";
      tr.append(td);
      rows.append(tr);
    }
    const pages = Math.max(1, Math.ceil(page.total / page.page_size));
    const noun = page.total === 1 ? "upload" : "uploads";
    $("page-status").textContent = `Page ${page.page} of ${pages} (${page.total.toLocaleString()} ${noun})`;
    $("page-previous").disabled = page.page <= 1;
    $("page-next").disabled = page.page >= pages;
  }

  row(upload) {
    const tr = document.createElement("tr");
    tr.dataset.uploadId = String(upload.upload_id);
    tr.dataset.progress = upload.progress;
    COLUMNS.forEach((cell, index) => {
      const td = document.createElement("td");
      if (index === FILE_COLUMN) td.className = "file";
      const value = cell(upload);
      if (value instanceof Node) td.append(value);
      else td.textContent = value;
      tr.append(td);
    });
    tr.addEventListener("click", (event) => {
      if (!event.target.closest("a")) this.openLog(upload.upload_id);
    });
    return tr;
  }
}
