"""The report in a real browser: Debian's chromium, driven by selenium through chromedriver.

Opens the index and claim pages over file://, checks that the math rendered as MathML
(laid out, no raw TeX left in the visible text, no fallback boxes), that the SVG plots
have a size, and that the pages made no network request (DevTools performance log:
every ``Network.requestWillBeSent`` must be one of the report's own files), and saves
screenshots into the test's tmp dir. The browser and driver paths are given
explicitly and SE_OFFLINE is set, so Selenium Manager never downloads anything.
Skipped only where chromium is missing and this is not CI; in CI it must run.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import pytest

from tests.report.conftest import pick
from verify.claims import Figure, Mark, Series
from verify.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
IN_CI = bool(os.environ.get("CI"))

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()) and not IN_CI:
    pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver; "
                ".ci/run does this in CI)", allow_module_level=True)
if not IN_CI:
    pytest.importorskip("selenium", reason="selenium is in the `test` extra: pip install -e '.[test]'")

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--disable-extensions", "--disable-default-apps", "--window-size=1200,2400")

# what a page may show of TeX: none of its commands (a \frac in the text means MathML failed)
RAW_TEX = re.compile(r"\\(frac|tfrac|nabla|left|right|text|operatorname|mathbb|le|ge|alpha|theta|sum|partial|\|)")

INSPECT = """
const out = {math: [], fallback: document.querySelectorAll('.math-fallback').length, svg: [],
             text: document.body.innerText};
for (const m of document.querySelectorAll('math')) {
  const r = m.getBoundingClientRect();
  out.math.push({w: r.width, h: r.height, display: getComputedStyle(m).display});
}
for (const s of document.querySelectorAll('svg.plot')) {
  const r = s.getBoundingClientRect();
  out.svg.push({w: r.width, h: r.height, shapes: s.querySelectorAll('rect,polyline,circle').length});
}
return out;
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never fetch a driver or browser
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    driver.get("about:blank")
    driver.get_log("performance")  # the browser's own start-up pages are not the report's
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def report(real_verdicts, tmp_path_factory: pytest.TempPathFactory) -> Path:
    verdicts = copy.deepcopy(pick(real_verdicts, "descent-lemma", "descent-lemma-beyond-2-over-M",
                                  "softmax-ce-hessian"))
    # a figure of the kinds claims attach (log-log error curve with a mark, a step-size curve)
    r = [10.0 ** (-k / 2) for k in range(1, 17)]
    verdicts[0].numeric["figures"] = [
        Figure(title="finite-difference error vs r", x_label="r", y_label="error", x_log=True, y_log=True,
               series=[Series("central", r, [x * x + 1e-16 / x for x in r])], marks=[Mark(1e-5, "r*")]).to_json(),
        Figure(title="descent margin vs α", x_label="α", y_label="margin",
               series=[Series("margin", [a / 10 for a in range(41)], [a / 10 * (1 - a / 40) for a in range(41)])],
               marks=[Mark(2.0, "2/M")]).to_json(),
    ]
    # a derivation step wider than any window (Chromium does not line-break MathML)
    long_sum = " + ".join(rf"\frac{{a_{{{k}}}}}{{b_{{{k}}} + c_{{{k}}}}}" for k in range(40))
    verdicts[0].symbolic["steps"].append({"name": "a-very-long-step-name-for-the-layout",
                                          "statement": f"{long_sum} = S", "status": "proved",
                                          "sizes": "general (any C² φ, n ≥ 1, k = 1..3)",
                                          "detail": "simplify(lhs - rhs) = 0; " * 12, "elapsed_s": 0.25})
    out = tmp_path_factory.mktemp("browser") / "report"
    write_report(verdicts, out)
    return out


def _requests(driver) -> list[tuple[str, str]]:
    """(url, url of the document that asked for it) for every request the DevTools log saw."""
    out = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            params = message["params"]
            out.append((params["request"]["url"], params.get("documentURL", "")))
    return out


@pytest.mark.parametrize("page", ["index", "descent-lemma", "descent-lemma-beyond-2-over-M"])
def test_page_renders_offline_with_math_and_plots(browser, report, page, tmp_path):
    browser.get_log("performance")  # drop what earlier pages logged
    url = (report / f"{page}.html").as_uri()
    browser.get(url)
    state = browser.execute_script(INSPECT)
    browser.save_screenshot(str(tmp_path / f"{page}.png"))
    assert (tmp_path / f"{page}.png").stat().st_size > 10_000

    requests = _requests(browser)
    assert (url, url) in requests
    assert [u for u, doc in requests if doc == url and u != url] == [], "the page loaded something besides itself"
    assert [u for u, _ in requests if re.match(r"(https?|wss?|ftp):", u)] == [], "a network request was made"

    assert state["fallback"] == 0, "a statement fell back to raw TeX"
    assert not RAW_TEX.search(state["text"]), RAW_TEX.search(state["text"]).group(0)
    if page == "index":
        assert "Mistakes found in the source documents" in state["text"]
        assert "descent-lemma-beyond-2-over-M" in state["text"]
        return
    assert len(state["math"]) >= 2
    for m in state["math"]:
        assert m["w"] > 0 and m["h"] > 0, m
        assert "math" in m["display"], m  # Chromium laid it out as MathML (display: block math / inline math)
    assert state["svg"], "no plot on the page"
    for s in state["svg"]:
        assert s["w"] > 100 and s["h"] > 100 and s["shapes"] > 1, s
    if page == "descent-lemma":
        assert len(state["svg"]) == 3  # two figures and the ratio distribution
        assert "Derivation" in state["text"] and "taylor-integral-remainder" in state["text"]
    else:
        assert "verify check descent-lemma-beyond-2-over-M --replay out.json" in state["text"]


STEPS_LAYOUT = """
const t = document.querySelector('table.steps');
const view = document.documentElement.clientWidth;
return {doc: document.documentElement.scrollWidth, view: view, table: t.getBoundingClientRect().right,
        container: t.parentElement.getBoundingClientRect().right,
        cells: [...t.querySelectorAll('.badge, tr.step td:last-child, tr.how td')]
               .map(e => e.getBoundingClientRect().right),
        scrollers: [...t.querySelectorAll('.mathcell')].map(d => [d.scrollWidth, d.clientWidth])};
"""


def test_derivation_table_fits_the_window(browser, report, tmp_path):
    """At 1200 px the status, sizes, time and how of every step are on screen; a wide formula scrolls in its cell."""
    browser.get((report / "descent-lemma.html").as_uri())
    layout = browser.execute_script(STEPS_LAYOUT)
    browser.save_screenshot(str(tmp_path / "steps.png"))
    assert layout["doc"] <= layout["view"], "the page scrolls sideways"
    assert layout["table"] <= layout["container"] + 1, layout
    assert layout["cells"] and max(layout["cells"]) <= layout["view"], layout
    assert layout["scrollers"][-1][0] > 2 * layout["scrollers"][-1][1], layout  # the long formula scrolls in its cell
    assert min(w for _, w in layout["scrollers"]) > 0.45 * layout["view"], layout  # and the math column stays wide
