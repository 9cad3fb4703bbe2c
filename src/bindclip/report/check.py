"""Open a report in headless Chromium and check that it really rendered: the tables have rows, every
figure decoded to a non-empty bitmap, and the screenshot is not blank.

    python -m bindclip.report.check runs/demo/report.html [--screenshot shot.png]

Needs Debian's chromium + chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver) and selenium.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from PIL import Image

from ..errors import MissingFileError

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# the flags a root, offline machine needs: no sandbox, and no background calls to Google's hosts
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1300,1000",
)


class BrowserMissing(RuntimeError):
    """No Chromium or ChromeDriver on this machine (apt-get install chromium chromium-driver)."""


def browser_available() -> bool:
    return all(Path(p).exists() or shutil.which(Path(p).name) for p in (CHROMIUM, CHROMEDRIVER))


def _driver(profile: str):
    try:
        # selenium is a dev dependency: the report check runs only where a browser is installed
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:
        raise BrowserMissing("selenium is not installed (pip install selenium)") from e
    if not browser_available():
        raise BrowserMissing(f"need {CHROMIUM} and {CHROMEDRIVER}: apt-get install chromium chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    path = CHROMEDRIVER if Path(CHROMEDRIVER).exists() else shutil.which("chromedriver")
    return webdriver.Chrome(service=Service(executable_path=path), options=opts)


# evaluated in the page: what rendered, as the browser sees it
PAGE_FACTS = """
const imgs = [...document.images];
return {
  title: document.title,
  tables: Object.fromEntries([...document.querySelectorAll('table[id]')]
            .map(t => [t.id, t.tBodies[0] ? t.tBodies[0].rows.length : 0])),
  figures: imgs.map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
                           shown: i.getBoundingClientRect().width})),
  external: [...document.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src') || e.getAttribute('href'))
            .filter(u => !u.startsWith('data:') && !u.startsWith('#')),
  height: document.body.scrollHeight,
};
"""


def check_report(
    html: str | Path, screenshot: str | Path | None = None, require: tuple[str, ...] = ("comparison-table",)
) -> dict:
    """The page's facts; raises AssertionError naming what did not render."""
    html = Path(html).resolve()
    if not html.is_file():
        raise MissingFileError(f"{html}: no such report")
    with tempfile.TemporaryDirectory() as profile:
        driver = _driver(profile)
        try:
            driver.get(html.as_uri())
            facts = driver.execute_script(PAGE_FACTS)
            driver.set_window_size(1300, min(int(facts["height"]) + 50, 16000))
            shot = Path(screenshot) if screenshot else Path(profile) / "shot.png"
            driver.save_screenshot(str(shot))
        finally:
            driver.quit()
        pixels = Image.open(shot).convert("L")
        lo, hi = pixels.getextrema()
        facts["screenshot"] = {
            "path": str(shot) if screenshot else None,
            "size": list(pixels.size),
            "contrast": hi - lo,
        }
    problems = [f"table #{t} has no rows" for t in require if not facts["tables"].get(t)]
    problems += [
        f"figure {f['alt']!r} did not render ({f['width']}x{f['height']}, shown {f['shown']:.0f}px)"
        for f in facts["figures"]
        if not (f["complete"] and f["width"] > 0 and f["shown"] > 0)
    ]
    problems += [f"external reference {u!r} (the report must open offline)" for u in facts["external"]]
    if facts["screenshot"]["contrast"] < 64:
        problems.append(f"the screenshot is blank (contrast {facts['screenshot']['contrast']})")
    if problems:
        raise AssertionError(f"{html}: " + "; ".join(problems))
    return facts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html")
    ap.add_argument("--screenshot", help="save the full-page screenshot here")
    ap.add_argument(
        "--require",
        action="append",
        metavar="TABLE_ID",
        help="a table that must have rows (repeatable; default comparison-table, a demo's; a study's: study-NAME-1)",
    )
    args = ap.parse_args(argv)
    try:
        facts = check_report(args.html, args.screenshot, tuple(args.require or ("comparison-table",)))
    except (AssertionError, BrowserMissing, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"tables": facts["tables"], "figures": len(facts["figures"]), "screenshot": facts["screenshot"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
