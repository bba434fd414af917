// The Log Viewer: one upload's progress, status line and log, appended live through server-sent events
// (EventSource resumes after a reconnect from the last line it got, by Last-Event-ID), with polling of
// the log API as the fallback when the stream cannot be had. The first line of each pipeline run carries a
// "run N" badge, so that the lines of an interrupted run and of its rerun are not taken for repeats.

import { Unreachable, call, uploadPath } from "./api.js";
import { FINISHED, progressLabel, time } from "./format.js";

const $ = (id) => document.getElementById(id);
const POLL_SECONDS = 2;
const RECONNECT_GRACE_MS = 4000;
const STREAM_RETRY_SECONDS = 10;
const UNREACHABLE = "The server cannot be reached; the log resumes when it answers again.";

export class LogViewer {
  constructor() {
    this.uploadId = null;
    this.stream = null;
    this.pollTimer = null;
    this.lastLineId = 0;
    this.lastError = null; // the message of the last error line shown: a failure's cause
    this.lastRun = null; // the run of the last line shown that a run printed
    this.attempt = null;
    this.awaited = null; // { uploadId, attempt } an upload's answer named, which the log may not know yet
    this.streamFailedAt = 0;
    this.generation = 0; // bumps on every (re)open, so answers for an older view are dropped
    for (const radio of document.querySelectorAll("input[name=log-mode]")) {
      radio.addEventListener("change", () => this.uploadId !== null && this.open(this.uploadId, true));
    }
  }

  mode() {
    return document.querySelector("input[name=log-mode]:checked").value;
  }

  /** An upload was just answered: its log is that attempt's, though the logstore may not have recorded it yet
   * (after an overwrite, it still holds the replaced attempt's finished log for a moment). */
  awaitAttempt(uploadId, attempt) {
    this.awaited = { uploadId, attempt };
    if (uploadId === this.uploadId) this.close(); // the next open() starts afresh
  }

  /** Whether the log shown is of an attempt older than the one awaited: then it is not over yet. */
  behind(attempt) {
    return this.awaited !== null && this.awaited.uploadId === this.uploadId && attempt < this.awaited.attempt;
  }

  async open(uploadId, force = false) {
    if (uploadId === this.uploadId && !force) return;
    this.close();
    this.uploadId = uploadId;
    const generation = ++this.generation;
    this.lastLineId = 0;
    this.attempt = null;
    this.showLines([]);
    $("log-connection").textContent = "";
    $("log-cause").hidden = true;
    $("log-upload").textContent = `Upload ${uploadId}`;
    $("log-report").href = uploadPath(uploadId, "/report");
    $("log-body").hidden = false;
    try {
      const upload = await call("GET", uploadPath(uploadId));
      if (generation !== this.generation) return;
      $("log-upload").textContent = `Upload ${uploadId}: ${upload.file_name || "(no file name)"}`;
      this.showProgress(upload.progress, null);
    } catch (error) {
      if (generation !== this.generation) return;
      $("log-connection").textContent = error.message;
      if (!(error instanceof Unreachable)) {
        $("log-body").hidden = true; // no such upload (for this user): nothing to show but why
        return;
      }
    }
    if (window.EventSource) this.follow(generation);
    else this.poll(generation);
  }

  close() {
    this.generation += 1;
    this.uploadId = null;
    if (this.stream) this.stream.close();
    this.stream = null;
    clearTimeout(this.pollTimer);
    clearTimeout(this.unreachableTimer);
    this.unreachableTimer = null;
  }

  follow(generation) {
    const params = new URLSearchParams({ mode: this.mode(), after: String(this.lastLineId) });
    const stream = new EventSource(`${uploadPath(this.uploadId, "/log/events")}?${params}`);
    this.stream = stream;
    stream.addEventListener("open", () => {
      clearTimeout(this.unreachableTimer);
      this.unreachableTimer = null;
      $("log-connection").textContent = "";
    });
    stream.addEventListener("progress", (event) => {
      const data = JSON.parse(event.data);
      if (this.attempt !== null && data.attempt !== this.attempt) {
        this.lastLineId = 0;
        this.showLines([]);
      }
      this.attempt = data.attempt;
      this.showProgress(data.progress, data.status);
    });
    stream.addEventListener("line", (event) => {
      $("log-connection").textContent = "";
      this.addLines([JSON.parse(event.data)]);
    });
    stream.addEventListener("end", (event) => {
      const data = JSON.parse(event.data);
      stream.close();
      if (this.behind(this.attempt)) {
        this.pollTimer = setTimeout(() => generation === this.generation && this.follow(generation), POLL_SECONDS * 1000);
        return;
      }
      this.showProgress(data.progress, data.status);
    });
    stream.addEventListener("error", () => {
      if (generation !== this.generation) return;
      if (stream.readyState === EventSource.CLOSED) {
        // No stream to be had (an error answer): poll the log instead, and try the stream again later.
        this.stream = null;
        this.streamFailedAt = Date.now();
        this.poll(generation);
      } else {
        // EventSource is reconnecting; that the stream ended is news only when no new one opens soon.
        if (!this.unreachableTimer) {
          this.unreachableTimer = setTimeout(() => {
            this.unreachableTimer = null;
            if (generation === this.generation && stream.readyState !== EventSource.OPEN) {
              $("log-connection").textContent = UNREACHABLE;
            }
          }, RECONNECT_GRACE_MS);
        }
      }
    });
  }

  async poll(generation) {
    if (generation !== this.generation) return;
    let finished = false;
    let more = false;
    try {
      const params = new URLSearchParams({ mode: this.mode(), after: String(this.lastLineId) });
      const page = await call("GET", `${uploadPath(this.uploadId, "/log")}?${params}`);
      if (generation !== this.generation) return;
      $("log-connection").textContent = "";
      if (this.attempt !== null && page.attempt !== this.attempt) {
        this.lastLineId = 0;
        this.showLines([]);
        more = true; // the new attempt's lines from its first, at once
      }
      this.attempt = page.attempt;
      this.addLines(page.lines);
      this.showProgress(page.progress, page.status);
      more = more || page.more;
      finished = FINISHED.has(page.progress) && !more && !this.behind(page.attempt);
    } catch (error) {
      if (generation !== this.generation) return;
      $("log-connection").textContent = error instanceof Unreachable ? UNREACHABLE : error.message;
    }
    if (finished) return;
    if (more) {  // a long log comes in pages: the next one at once
      this.pollTimer = setTimeout(() => this.poll(generation), 0);
      return;
    }
    if (window.EventSource && Date.now() - this.streamFailedAt > STREAM_RETRY_SECONDS * 1000) {
      this.follow(generation);
    } else {
      this.pollTimer = setTimeout(() => this.poll(generation), POLL_SECONDS * 1000);
    }
  }

  showProgress(progress, status) {
    progressLabel(progress, $("log-progress"));
    if (status) $("log-status").textContent = status;
    this.showCause(progress);
  }

  /** A failure's cause in plain words: the last error line of the log (the validator's or the launcher's). */
  showCause(progress) {
    const cause = $("log-cause");
    if (progress === "Failure" && this.lastError) {
      cause.textContent = `Why it failed: ${this.lastError}`;
      cause.hidden = false;
    } else {
      cause.hidden = true;
    }
    this.progress = progress;
  }

  showLines(lines) {
    const region = $("log-lines");
    region.replaceChildren();
    this.lastError = null;
    this.lastRun = null;
    const empty = document.createElement("p");
    empty.className = "empty";
    empty.textContent = "No log lines yet.";
    region.append(empty);
    this.addLines(lines);
  }

  addLines(lines) {
    const region = $("log-lines");
    const fresh = lines.filter((line) => line.line_id > this.lastLineId);
    if (!fresh.length) return;
    region.querySelector(".empty")?.remove();
    const atBottom = region.scrollTop + region.clientHeight >= region.scrollHeight - 4;
    for (const line of fresh) {
      const startsRun = line.run != null && line.run !== this.lastRun;
      region.append(lineElement(line, startsRun));
      if (line.run != null) this.lastRun = line.run;
      this.lastLineId = line.line_id;
      if (line.is_error) this.lastError = line.message;
    }
    if (atBottom) region.scrollTop = region.scrollHeight;
    if (this.progress) this.showCause(this.progress);
  }
}

function lineElement(line, startsRun) {
  const div = document.createElement("div");
  div.className = line.is_error ? "line error" : "line";
  div.dataset.lineId = String(line.line_id);
  if (line.run != null) div.dataset.run = String(line.run);
  const when = document.createElement("time");
  when.dateTime = line.logged_at;
  when.textContent = time(line.logged_at);
  const origin = document.createElement("span");
  origin.className = "origin";
  origin.textContent = line.origin;
  const message = document.createElement("span");
  message.className = "message";
  message.textContent = line.message;
  div.append(when, origin);
  if (startsRun) {
    const run = document.createElement("span");
    run.className = "run";
    run.textContent = `run ${line.run}`;
    div.classList.add("run-start");
    div.append(run);
  }
  div.append(message);
  return div;
}
