"""The HTML report (``snakemake --report``) built from result files copied into a fresh clone,
then opened in headless Chromium: the main table and the λ(t, p) heatmap must render.

Chromium is driven through chromedriver's W3C WebDriver HTTP API with the standard library
(no selenium). Both come from Debian's ``chromium`` and ``chromium-driver`` packages, which
``.ci/run`` installs; without them this test fails (it does not skip).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tide.config import load_config

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "chromedriver"
INSTALL = "apt-get install -y chromium chromium-driver"
W3C_ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C web element identifier


def _ref(element: str) -> dict:
    """A W3C element reference, as commands that take an element in their body expect."""
    return {W3C_ELEMENT: element}


def _fresh_clone(dest: Path) -> Path:
    """The repository's files as a clone of the working tree has them (tracked + new files
    git does not ignore), without results/, reports/ outputs or .snakemake/."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _snakemake(workdir: Path, *args: str, partial: bool = True) -> subprocess.CompletedProcess:
    """Snakemake in ``workdir`` as ``make report`` runs it (``partial``: TIDE_REPORT_PARTIAL)."""
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", OMP_NUM_THREADS="1")
    env.pop("TIDE_REPORT_PARTIAL", None)
    if partial:
        env["TIDE_REPORT_PARTIAL"] = "1"
    return subprocess.run([str(BIN / "snakemake"), *args], cwd=workdir, capture_output=True,
                          text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def html_report(tmp_path_factory) -> Path:
    """Partial results made elsewhere (one main run and one ablation missing), copied into a
    fresh clone; then what ``make report`` runs there: the ``report`` rule, then
    ``snakemake --report``."""
    from test_report_build import make_results

    clone = _fresh_clone(tmp_path_factory.mktemp("clone"))
    made = make_results(tmp_path_factory.mktemp("elsewhere") / "results",
                        load_config(REPO / "config" / "tiny.yaml"),
                        skip_runs={"A_calm", "A_tidal_on_reverse"})
    shutil.copytree(made, clone / "results", dirs_exist_ok=True)  # beside results/README.md
    assert not (clone / "reports" / "main_table.md").exists()
    strict = _snakemake(clone, "-n", "--allowed-rules", "report", "--", "report", partial=False)
    assert strict.returncode != 0  # in a DAG run the report waits for every result
    assert "runs/A/calm/run.json" in strict.stdout + strict.stderr
    res = _snakemake(clone, "-c1", "--allowed-rules", "report", "--", "report")
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    res = _snakemake(clone, "--allowed-rules", "report", "--report", "reports/report.html",
                     "--", "report")
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    return clone / "reports" / "report.html"


def test_html_report_from_copied_results_has_captioned_tables_and_figures(html_report):
    text = html_report.read_text()
    start = text.index('<script id="results">')
    results = json.loads(text[text.index(">", start) + 1:text.index("</script>", start)]
                         .strip().removeprefix("var results = ").rstrip(";"))
    assert set(results) == {f"reports/{n}" for n in (
        "main_table.html", "vs_paper.html", "intervals.html", "deltas.html",
        "ablations.html", "lambda_heatmap.png",
        "training_curves_A.png", "training_curves_B.png", "efficiency.png", "efficiency.html")}
    for path, entry in results.items():
        assert entry["caption"].strip(), f"{path} has no caption"
        assert entry["data_uri"].startswith("data:"), path
    assert "configured" in results["reports/lambda_heatmap.png"]["caption"]
    assert "0.9" in results["reports/lambda_heatmap.png"]["caption"]  # λ_max from the config
    ablations = base64.b64decode(results["reports/ablations.html"]["data_uri"].split(",", 1)[1])
    assert "tidal_on_reverse (not run)" in ablations.decode()  # the missing ablation, marked


class WebDriver:
    """The few W3C WebDriver calls this test needs, over chromedriver's HTTP API."""

    def __init__(self, shots: Path):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        self.proc = subprocess.Popen([shutil.which(CHROMEDRIVER), f"--port={port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base, self.shots = f"http://127.0.0.1:{port}", shots
        for _ in range(200):
            try:
                self._call("GET", "/status")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1600,1100"]
        caps = {"alwaysMatch": {"goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}
        self.session = self._call("POST", "/session", {"capabilities": caps})["sessionId"]

    def _call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return json.loads(resp.read())["value"]
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"WebDriver {method} {path}: {exc.read()[:600]!r}") from None

    def __call__(self, method: str, path: str, body: dict | None = None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def js(self, script: str, *args):
        return self("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, xpath: str, timeout: float = 20) -> str:
        """The element at ``xpath``, waiting up to ``timeout`` s for React to render it."""
        deadline = time.time() + timeout
        while True:
            try:
                found = self("POST", "/element", {"using": "xpath", "value": xpath})
                return found[W3C_ELEMENT]
            except AssertionError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)

    def click(self, xpath: str) -> None:
        self("POST", f"/element/{self.find(xpath)}/click", {})

    def screenshot(self, name: str) -> Path:
        path = self.shots / name
        path.write_bytes(base64.b64decode(self("GET", "/screenshot")))
        return path

    def close(self) -> None:
        try:
            self("DELETE", "")
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture
def browser(tmp_path):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if missing:
        pytest.fail(f"headless Chromium needed for the HTML report test: {missing} not found; "
                    f"install the Debian packages with `{INSTALL}` (.ci/run does)")
    driver = WebDriver(tmp_path)
    yield driver
    driver.close()


_STATE = ("const s = app.state; return {navbarMode: s.navbarMode, category: s.category || null, "
          "subcategory: s.subcategory || null, content: s.content, resultPath: s.resultPath || null, "
          "contentPath: (s.contentPath || '').slice(0, 40), "
          "imgs: Array.from(document.images).map(i => i.src.slice(0, 40)), "
          "iframes: document.querySelectorAll('iframe').length, "
          "text: document.body.innerText.slice(0, 400)};")


def _open_result(browser: WebDriver, category: str, result: str, shows: str) -> str:
    """Navigate the report like a reader: back to the results menu (breadcrumb) if a
    category is open, the category, then the eye button of the result; return the element
    at ``shows`` that the result's view must contain. A click that lands while React is
    re-rendering on a loaded machine is retried (up to three times); a failure reports the
    app's state at each attempt, so a CI log says where navigation stopped."""
    states = []
    for attempt in range(3):
        back = "//nav//a[normalize-space(.)='Results']"
        if browser.js("return document.evaluate(arguments[0], document, null, "
                      "XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue !== null",
                      back):
            browser.click(back)
        browser.click(f"//a[normalize-space(.)='{category}']")
        browser.click(f"//tr[td[normalize-space(.)='{result}']]//a[@iconname='eye']")
        deadline = time.time() + 10
        while time.time() < deadline and browser.js("return app.state.resultPath") != result:
            time.sleep(0.1)
        try:
            return browser.find(shows, timeout=10)
        except AssertionError:
            states.append(browser.js(_STATE))
            browser.screenshot(f"attempt{attempt}_{Path(result).stem}.png")
    raise AssertionError(f"{result} never showed {shows!r}; the app's state after each of "
                         f"three attempts: {json.dumps(states, ensure_ascii=False, indent=1)}")


def test_html_report_renders_main_table_and_heatmap_in_chromium(html_report, browser):
    from tide.report.layout import PIPELINE_A, PIPELINE_B

    browser("POST", "/url", {"url": html_report.as_uri()})
    assert browser.js("return typeof app") == "object", "the report's app did not start"
    browser.find("//*[normalize-space(text())='1. Main results']")

    # main table: rendered in the report's frame, with the paper's layout and our numbers
    frame = _open_result(browser, "1. Main results", "reports/main_table.html", "//iframe")
    browser("POST", "/frame", {"id": _ref(frame)})
    table = browser.find("//table[@id='main-table']")
    text = browser("GET", f"/element/{table}/text")
    assert PIPELINE_B in text and PIPELINE_A in text and "GSM8K" in text and "Avg" in text
    size = browser("GET", f"/element/{table}/rect")
    assert size["width"] > 400 and size["height"] > 200, size  # laid out, not collapsed
    from test_report_build import _score

    assert f"{_score('B_tide_shared', 'mmlu'):.2f}" in text
    bold = browser.js("return getComputedStyle(document.querySelector('td.best')).fontWeight")
    assert int(bold) >= 700
    browser("POST", "/frame/parent", {})
    browser.screenshot("main_table.png")

    # heatmap: the PNG is decoded and drawn at a real size
    img = _open_result(browser, "3. TIDAL λ(t, p)", "reports/lambda_heatmap.png",
                       "//img[starts-with(@src, 'data:image/png')]")
    drawn = browser.js("const i = arguments[0]; return [i.complete, i.naturalWidth, "
                       "i.naturalHeight, i.getBoundingClientRect().width];",
                       _ref(img))
    assert drawn[0] is True and drawn[1] > 800 and drawn[2] > 300 and drawn[3] > 300, drawn
    shot = browser.screenshot("heatmap.png")
    assert shot.stat().st_size > 20_000
