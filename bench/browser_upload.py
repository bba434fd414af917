"""A multi-gigabyte upload through the web page, in Debian's Chromium, beside
the same file sent by curl to the same gateway in the same run.

    .venv/bin/python bench/browser_upload.py [--size-mib 2048]

It starts the logstore, the validator and the gateway as real processes (on a
database and a vhost of their own, auto-launch off: only the upload is
measured), signs in on the page, fills in the Upload tab and presses Upload,
and prints: the seconds and MiB/s to the 202, the same for curl, their ratio,
whether the progress bar reached 100, and how free the page stayed meanwhile:
the longest task the page's main thread ran (PerformanceObserver "longtask")
and the slowest answer of the page to a script call made every 200 ms. A page
that froze would show tasks and answers of seconds.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.async_api import async_playwright, expect

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.stack import BenchStack  # noqa: E402
from bench.upload_throughput import MIB, curl, make_archive_like_file, timed, upload_form  # noqa: E402
from services.gateway.auth.users import set_password  # noqa: E402
from services.validator.demo_registry import load_demo_registry  # noqa: E402

PASSWORD = "bench-browser-password"
CHROMIUM = "/usr/bin/chromium"
WATCH_PAGE = """() => {
  window.bench = {longest: 0, longTasks: 0, progress: []};
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      window.bench.longTasks += 1;
      window.bench.longest = Math.max(window.bench.longest, entry.duration);
    }
  }).observe({type: 'longtask', buffered: false});
  const bar = document.querySelector('[role=progressbar]');
  new MutationObserver(() => window.bench.progress.push(Number(bar.getAttribute('aria-valuenow'))))
    .observe(bar, {attributes: true, attributeFilter: ['aria-valuenow']});
}"""


async def browser_upload(gateway_url: str, source: Path) -> dict:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=["--no-sandbox", "--disable-gpu"])
        page = await browser.new_page(base_url=gateway_url)
        await page.goto("/")
        await page.get_by_label("Username").fill("bench")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("link", name="Upload", exact=True).click()
        form = page.get_by_role("region", name="Upload a scan archive")
        await form.get_by_label("CandID").fill("300001")
        await form.get_by_label("PSCID").fill("MTL0001")
        await form.get_by_label("Visit label").fill("V1")
        await form.get_by_label("File").set_input_files(source)
        await expect(page.get_by_text("Ready to upload: every rule passes.")).to_be_visible(timeout=30_000)
        await page.evaluate(WATCH_PAGE)

        started = time.perf_counter()
        await form.get_by_role("button", name="Upload").click()
        answers = []
        done = page.get_by_role("heading", name="Log Viewer")
        while not await done.is_visible():
            asked = time.perf_counter()
            await page.evaluate("1")
            answers.append(time.perf_counter() - asked)
            await asyncio.sleep(0.2)
        seconds = time.perf_counter() - started
        watched = await page.evaluate("window.bench")
        await browser.close()
    return {"seconds": seconds, "answers": answers, **watched}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    args = parser.parse_args()
    size = args.size_mib * MIB
    stack = BenchStack("browser_upload", ("logstore", "validator", "gateway"),
                       env={"UPLOADER_AUTO_LAUNCH": "false", "UPLOADER_MAX_UPLOAD_BYTES": str(64 * 1024**3)})
    with tempfile.TemporaryDirectory(prefix="uploader-bench-browser-") as work:
        source = Path(work) / "MTL0001_300001_V1_browser.tgz"
        make_archive_like_file(source, size)
        try:
            pool = await stack.prepare()
            async with pool.acquire() as conn:
                await load_demo_registry(conn)
                await set_password(conn, "bench", PASSWORD)
            await pool.close()
            stack.start()
            curl_seconds = timed(lambda: curl(*upload_form(source, "MTL0001_300001_V1_curl.tgz"),
                                              f"{stack.gateway_url}/api/v1/uploads"))
            page = await browser_upload(stack.gateway_url, source)
        finally:
            await stack.close()
    report(args.size_mib, curl_seconds, page)


def report(size_mib: int, curl_seconds: float, page: dict) -> None:
    answers_ms = [a * 1000 for a in page["answers"]] or [0.0]
    print(f"{size_mib:,} MiB upload to the gateway")
    print(f"  curl:               {curl_seconds:7.1f} s  {size_mib / curl_seconds:7.1f} MiB/s")
    print(f"  the page (Chromium): {page['seconds']:6.1f} s  {size_mib / page['seconds']:7.1f} MiB/s"
          f"  ({curl_seconds / page['seconds']:.2f} of curl's speed)")
    print(f"  progress bar: {len(page['progress'])} updates, last {page['progress'][-1] if page['progress'] else None}"
          f", reached 100: {100 in page['progress']}")
    print(f"  the page's main thread: {page['longTasks']} tasks over 50 ms, the longest {page['longest']:.0f} ms")
    print(f"  the page's answers to a script call every 200 ms: median {statistics.median(answers_ms):.1f} ms, "
          f"slowest {max(answers_ms):.1f} ms over {len(page['answers'])} calls")


if __name__ == "__main__":
    asyncio.run(main())
