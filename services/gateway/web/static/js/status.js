// The Status tab, for operators (permission imaging_uploader_admin): each queue's messages, consumers and rates,
// the dead letters with a button that replays them, the launchers alive and each service's outbox backlog and
// events set aside. It refreshes by itself while it shows.

import { call } from "./api.js";
import { dateTime, duration } from "./format.js";
import { RefreshingView } from "./refreshing_view.js";

const $ = (id) => document.getElementById(id);
const REFRESH_SECONDS = 5;
const STATUS_PATH = "/api/v1/status";
const REPLAY_PATH = "/api/v1/status/dead-letters/replay";

function plural(count, one, many) {
  return `${count.toLocaleString()} ${count === 1 ? one : many}`;
}

function rate(value) {
  return value === null || value === undefined ? "—" : value.toFixed(1);
}

function cell(text, className = "") {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells);
  return tr;
}

function emptyRow(columns, text) {
  const td = cell(text, "empty");
  td.colSpan = columns;
  return row(td);
}

export class StatusView extends RefreshingView {
  constructor() {
    super();
    this.deadLetters = null;
    this.problemsShown = "";
    $("replay-dead-letters").addEventListener("click", () => this.askReplay());
    $("replay-confirm").addEventListener("click", () => this.replay());
    $("replay-cancel").addEventListener("click", () => $("replay-dialog").close());
  }

  async load() {
    const number = this.beginLoad();
    try {
      const status = await call("GET", STATUS_PATH);
      if (!this.isLatest(number) || !this.active) return;
      this.render(status);
    } catch (error) {
      if (!this.isLatest(number)) return;
      this.showProblems([error.message]);
    }
    if (this.isLatest(number)) this.later(REFRESH_SECONDS, () => this.load());
  }

  render(status) {
    $("status-checked").textContent =
      `Checked at ${new Date(status.checked_at).toLocaleTimeString()}; refreshed every ${REFRESH_SECONDS} seconds.`;
    this.showProblems(status.problems);
    this.renderQueues(status.queues);
    this.renderDeadLetters(status.dead_letters);
    this.renderLaunchers(status.launchers);
    this.renderOutboxes(status.outboxes);
  }

  /** Each problem once: the alert speaks only when what it says changes. */
  showProblems(problems) {
    const text = problems.join("\n");
    if (text === this.problemsShown) return;
    this.problemsShown = text;
    $("status-problems").replaceChildren(...problems.map((problem) => {
      const p = document.createElement("p");
      p.textContent = problem;
      return p;
    }));
  }

  renderQueues(queues) {
    const rows = queues.map((queue) => row(
      cell(queue.name), cell(queue.messages.toLocaleString(), "number"), cell(String(queue.consumers), "number"),
      cell(rate(queue.publish_rate), "number"), cell(rate(queue.deliver_rate), "number"),
    ));
    $("status-queues").replaceChildren(...(rows.length ? rows : [emptyRow(5, "The queues cannot be read now.")]));
  }

  renderDeadLetters(count) {
    this.deadLetters = count;
    const element = $("status-dead-letters");
    if (count === null) {
      element.textContent = "Unknown: the broker cannot be reached.";
      return;
    }
    const figure = document.createElement("strong");
    figure.textContent = count.toLocaleString();
    element.replaceChildren(figure, count === 1 ? " dead letter waits in uploader.dead-letter."
      : " dead letters wait in uploader.dead-letter.");
  }

  renderLaunchers(launchers) {
    const rows = launchers.map((launcher) => row(
      cell(launcher.replica), cell(`${dateTime(launcher.alive_since)} (${this.age(launcher.alive_since)})`),
      cell(`${launcher.runs_in_flight} of ${launcher.slots}`, "number"),
    ));
    $("status-launchers").replaceChildren(
      ...(rows.length ? rows : [emptyRow(3, "No launcher is alive: no pipeline can run.")]));
  }

  renderOutboxes(outboxes) {
    $("status-outboxes").replaceChildren(...outboxes.map((outbox) => row(
      cell(outbox.service), cell(outbox.backlog.toLocaleString(), "number"),
      cell(outbox.oldest_seconds === null ? "—" : duration(outbox.oldest_seconds), "number"),
      cell(outbox.set_aside.toLocaleString(), outbox.set_aside ? "number attention" : "number"),
    )));
    const setAside = outboxes.reduce((sum, outbox) => sum + outbox.set_aside, 0);
    $("status-set-aside").hidden = setAside === 0;
    $("status-set-aside").textContent = `${plural(setAside, "event was", "events were")} refused by RabbitMQ ` +
      "for good (larger than its max_message_size): set aside, not published, while the events after went on. " +
      "The runbook (docs/operations.md, Runbook, Events set aside) says how to look and what to do.";
  }

  age(iso) {
    return duration((Date.now() - new Date(iso).getTime()) / 1000);
  }

  askReplay() {
    $("replay-result").textContent = "";
    if (this.deadLetters === 0) {
      $("replay-result").textContent = "There are no dead letters to replay.";
      return;
    }
    let what = `Each of the ${this.deadLetters} dead letters goes`;
    if (this.deadLetters === 1) what = "The dead letter goes";
    if (this.deadLetters === null) what = "Each dead letter goes";
    $("replay-text").textContent = `${what} back to the queue it came from, to be handled again. ` +
      "Do it once the cause is fixed.";
    $("replay-dialog").showModal();
  }

  async replay() {
    $("replay-dialog").close();
    const button = $("replay-dead-letters");
    button.disabled = true;
    $("replay-result").textContent = "Replaying…";
    try {
      const answer = await call("POST", REPLAY_PATH);
      let text = answer.replayed === 1 ? "Replayed 1 dead letter to the queue it came from."
        : `Replayed ${plural(answer.replayed, "dead letter", "dead letters")} to the queues they came from.`;
      if (answer.kept) {
        text += ` ${plural(answer.kept, "dead letter stays", "dead letters stay")} in the queue: where ` +
          `${answer.kept === 1 ? "it" : "they"} came from is unknown.`;
      }
      $("replay-result").textContent = text;
    } catch (error) {
      $("replay-result").textContent = error.message;
    } finally {
      button.disabled = false;
      button.focus();
    }
    if (this.active) this.load();
  }
}
