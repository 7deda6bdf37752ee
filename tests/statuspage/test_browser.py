"""The live status page in headless Chromium (issue 7).

While a slow fan-out query runs over a client connection (children that sleep, so its
progress moves), the page must show the bucket grid (the deadlock-suspect bucket marked
as such), the query with its progress, and that progress must *advance* between
refreshes. Killing the query from the page (two clicks) must end it in the executor,
reach the session as a cancellation (the client gets ER_QUERY_INTERRUPTED) and drop it
from the page. A screenshot goes to ``status-page.png`` in ``$SHARDGATE_BENCH_RESULTS``
(a temporary folder during test runs); to refresh the committed one:
``SHARDGATE_BENCH_RESULTS=bench/results pytest tests/statuspage/test_browser.py``.

Skips with the reason when Chromium, chromedriver or selenium is missing (fails
instead under ``SHARDGATE_REQUIRE_CHROMIUM=1``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pymysql
import pytest
import trio

from tests.server.conftest import in_thread, wait_until
from tests.statuspage import browser
from tests.statuspage.browser import chromium_or_skip, start_chromium
from tests.statuspage.scenario import BUCKETS, busy_server, wait_for_history

SCREENSHOT = Path(os.environ.get("SHARDGATE_BENCH_RESULTS") or ".") / "status-page.png"
#: The slow query: SHARDS children of CHILD_SECONDS each, SLOTS at a time (~25 s).
SHARDS = 400
CHILD_SECONDS = 0.25
WAIT = 15.0  # seconds any one page condition may take on a loaded 2-core machine
ER_QUERY_INTERRUPTED = 1317
#: Seconds of statement history before the page opens (the sparklines draw them).
HISTORY_SECONDS = 8


def _slow_query(client: Any, outcome: list[Any]) -> None:
    with client.cursor() as cur:
        try:
            cur.execute(f"SELECT FANOUT({SHARDS}, {CHILD_SECONDS})")
            outcome.append(cur.fetchall())
        except pymysql.MySQLError as exc:
            outcome.append(exc.args[0])


def _page_checks(
    driver: Any, base_url: str, qid: int, hot: int, busy_bucket: int
) -> dict[str, Any]:
    """Load the page and read what it shows (runs in a worker thread)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def wait(cond: Any) -> Any:
        return WebDriverWait(
            driver, WAIT, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
        ).until(cond)

    out: dict[str, Any] = {}
    driver.get(base_url + "/")
    wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#bucket-grid .bucket")) == BUCKETS)
    row_sel = f'#query-table tr[data-query-id="{qid}"]'
    row = wait(lambda d: d.find_element(By.CSS_SELECTOR, row_sel))
    wait(lambda d: row.get_attribute("data-total") == str(SHARDS))
    out["done_first"] = int(row.get_attribute("data-done"))
    out["text_first"] = row.find_element(By.CSS_SELECTOR, ".progress-text").text
    # The page refreshes by itself: the same row must show more shards done.
    wait(lambda d: int(row.get_attribute("data-done")) > out["done_first"])
    out["done_later"] = int(row.get_attribute("data-done"))
    out["text_later"] = row.find_element(By.CSS_SELECTOR, ".progress-text").text
    out["width_later"] = row.find_element(By.CSS_SELECTOR, ".fill").get_attribute("style")

    def level(bucket: int) -> str:
        tile = driver.find_element(By.CSS_SELECTOR, f'.bucket[data-bucket="{bucket}"]')
        return str(tile.get_attribute("data-level"))

    wait(lambda d: level(hot) == "deadlock")
    out["levels"] = {b: level(b) for b in range(BUCKETS)}
    out["hot_label"] = driver.find_element(
        By.CSS_SELECTOR, f'.bucket[data-bucket="{hot}"] .bucket-level'
    ).get_attribute("textContent")
    out["busy_level"] = level(busy_bucket)
    out["sparklines"] = {
        name: len(driver.find_elements(By.CSS_SELECTOR, f"#spark-{name} svg polyline"))
        for name in ("rate", "p99")
    }
    out["rate_now"] = driver.find_element(By.ID, "spark-rate-now").text
    out["p99_now"] = driver.find_element(By.ID, "spark-p99-now").text
    # One script call: the table is re-rendered every refresh, so elements found first
    # and read one by one after may be stale.
    out["breakers"] = driver.execute_script(
        "return Array.from(document.querySelectorAll('#ds-table .breaker')).map(e => e.textContent)"
    )
    out["live"] = driver.find_element(By.ID, "live").get_attribute("class")
    out["banner_hidden"] = driver.find_element(By.ID, "banner").get_attribute("hidden")
    # Screenshot of the whole page while everything is going on.
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1440, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOT))
    return out


def _kill_from_page(driver: Any, qid: int) -> str:
    """Click Kill twice (arm, confirm); wait until the row is gone; the toast text."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def wait(cond: Any) -> Any:
        return WebDriverWait(
            driver, WAIT, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
        ).until(cond)

    button = driver.find_element(By.CSS_SELECTOR, f'button.kill[data-query-id="{qid}"]')
    button.click()
    wait(lambda d: "armed" in (button.get_attribute("class") or ""))
    button.click()
    row_sel = f'#query-table tr[data-query-id="{qid}"]'
    wait(lambda d: not d.find_elements(By.CSS_SELECTOR, row_sel))
    toast = wait(lambda d: d.find_element(By.ID, "toast"))
    wait(lambda d: toast.text.startswith("Killed"))
    return str(toast.text)


async def test_status_page_in_headless_chromium(nursery: trio.Nursery, tmp_path: Path) -> None:
    chromium, chromedriver = chromium_or_skip()
    async with busy_server(nursery) as busy:
        driver = await in_thread(
            start_chromium, chromium, chromedriver, tmp_path / "profile", 1440, 1000
        )
        try:
            outcome: list[Any] = []
            nursery.start_soon(in_thread, _slow_query, busy.client, outcome)
            await wait_until(
                lambda: any(q.session == busy.session.id for q in busy.executor.queries())
            )
            slow = next(q for q in busy.executor.queries() if q.session == busy.session.id)
            assert slow.bucket == busy.session_bucket
            # History first: a page opened now must already draw its sparklines. (The
            # slow query gets about a third done meanwhile: ~25 s in all.)
            await wait_for_history(busy, HISTORY_SECONDS)
            assert not outcome, outcome

            seen = await in_thread(
                _page_checks, driver, busy.base_url, slow.id, busy.hot_bucket, busy.busy_bucket
            )
            assert seen["done_later"] > seen["done_first"] >= 0
            assert seen["text_later"].startswith(f"{seen['done_later']} / {SHARDS}")
            assert "width:" in seen["width_later"].replace(" ", "")
            assert seen["levels"][busy.hot_bucket] == "deadlock"
            assert seen["hot_label"] == "DEADLOCK SUSPECT"
            assert seen["busy_level"] == "busy"
            assert seen["levels"][busy.session_bucket] in ("busy", "full")
            quiet = set(range(BUCKETS)) - {
                busy.hot_bucket,
                busy.busy_bucket,
                busy.session_bucket,
                busy.background_bucket,
            }
            assert all(seen["levels"][b] == "idle" for b in quiet), seen["levels"]
            assert seen["sparklines"]["rate"] >= 1 and seen["sparklines"]["p99"] >= 1
            assert seen["rate_now"].endswith("/s") and seen["p99_now"] != "–"
            assert sorted(seen["breakers"]) == ["closed", "half-open", "open"]
            assert "ok" in seen["live"] and seen["banner_hidden"] is not None
            assert SCREENSHOT.stat().st_size > 10_000

            toast = await in_thread(_kill_from_page, driver, slow.id)
            assert f"query {slow.id}" in toast
            # The session saw KILL QUERY (not just the executor): the client got 1317.
            await wait_until(lambda: bool(outcome))
            assert outcome == [ER_QUERY_INTERRUPTED]
            assert busy.session.cancel_calls >= 1 and busy.session.interrupted == 1
            assert slow.id not in {q.id for q in busy.executor.queries()}
            # The stuck queries of the other buckets were not touched.
            open_ids = {q.id for q in busy.executor.queries()}
            assert set(busy.stuck_query_ids) <= open_ids
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(driver.quit)


def test_missing_chromium_skips_with_the_reason_or_fails_when_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(browser, "_which", lambda *names: None)
    monkeypatch.delenv("SHARDGATE_REQUIRE_CHROMIUM", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium chromium-driver"):
        browser.chromium_or_skip()
    monkeypatch.setenv("SHARDGATE_REQUIRE_CHROMIUM", "1")
    with pytest.raises(pytest.fail.Exception, match="no chromium binary; no chromedriver"):
        browser.chromium_or_skip()
