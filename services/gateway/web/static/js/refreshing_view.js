// What Browse and Status share: a view that loads again by itself while its tab shows. start() and stop() follow
// the tab; of loads that overlap (a refresh, a new filter), only the latest is shown.

export class RefreshingView {
  constructor() {
    this.active = false;
    this.timer = null;
    this.loadNumber = 0;
  }

  start() {
    if (this.active) return;
    this.active = true;
    this.load();
  }

  stop() {
    this.active = false;
    clearTimeout(this.timer);
  }

  /** A load begins: any earlier one still under way is outdated. Returns its number, for isLatest. */
  beginLoad() {
    clearTimeout(this.timer);
    return ++this.loadNumber;
  }

  isLatest(number) {
    return number === this.loadNumber;
  }

  /** Do `action` in `seconds`, if the view still shows then. */
  later(seconds, action) {
    if (this.active) this.timer = setTimeout(action, seconds * 1000);
  }
}
