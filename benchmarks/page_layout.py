"""The book as a reader sees it (issue 13, item 8): render every page of the
built book in headless Chromium at 1280×800, keep a small screenshot of its
first two screens, and measure where each section page's first table or
figure starts, in screens of 800 px. A section page whose first table or
figure starts beyond the second screen fails the check (exit code 1).

Chromium is driven through chromedriver's W3C WebDriver HTTP interface with
the standard library alone (Debian's ``chromium`` and ``chromium-driver``;
installed with apt-get when missing and running as root).

    make book PRESET=smoke && python benchmarks/page_layout.py
    python benchmarks/page_layout.py --html _build/html --out benchmarks/results/page_layout.json

Writes ``page_layout.json`` and one PNG per page in ``page_layout/`` beside it.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
WIDTH, SCREEN = 1280, 800
SCREENS_ALLOWED = 2  # the first table or figure must start within the first two screens
SECTION_PAGES = "book/executed/*.html"
SKIPPED = ("genindex.html", "search.html", "py-modindex.html")

# The first table or figure of the article: a DataFrame or Markdown table, an
# output image (matplotlib), an SVG or a <figure>; the navigation is not searched.
FIRST_ELEMENT_JS = """
const root = document.querySelector('main article') || document.querySelector('main')
             || document.body;
const chrome = 'nav, header, footer, summary, button, a.headerlink, .toc, .prev-next-area';
const items = Array.from(root.querySelectorAll('table, img, svg, figure'))
  .filter(e => !e.closest(chrome) && !(e.tagName === 'svg' && e.closest('figure, img')))
  .filter(e => { const b = e.getBoundingClientRect();  // icons are not figures
                 return e.tagName === 'TABLE' ? b.height > 0 : b.height >= 40 && b.width >= 40; });
const first = items[0];
const streams = Array.from(root.querySelectorAll('.output.stream pre, .output.stderr pre'))
  .map(e => e.textContent.split('\\n').filter(l => l.trim()).length).reduce((a, b) => a + b, 0);
const height = Math.max(document.documentElement.scrollHeight, document.body.scrollHeight);
if (!first) return {height: height, stream_lines: streams, first: null};
const box = first.getBoundingClientRect();
return {height: height, stream_lines: streams,
        first: {tag: first.tagName.toLowerCase(), top_px: box.top + window.scrollY,
                text: (first.closest('.cell') || first).textContent.trim().slice(0, 80)}};
"""


def ensure_chromium() -> tuple[str, str]:
    """Paths of chromium and chromedriver, installing Debian's packages when
    they are missing and this is root."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("installing Debian's chromium and chromium-driver (once)", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, check=True, capture_output=True)
            subprocess.run(install, env=env, check=True, capture_output=True)
        chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        raise SystemExit("error: headless Chromium is needed: sudo apt-get install chromium "
                         "chromium-driver")
    return chromium, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """A headless Chromium through chromedriver (WebDriver over HTTP on 127.0.0.1)."""

    def __init__(self, base: str, session: str):
        self.base, self.session = base, session

    def _call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())["value"]

    def command(self, method: str, path: str, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self.command("POST", "/url", {"url": url})

    def script(self, source: str, *args):
        return self.command("POST", "/execute/sync", {"script": source, "args": list(args)})

    def screenshot(self) -> bytes:
        return base64.b64decode(self.command("GET", "/screenshot"))


@contextmanager
def browser(chromium: str, driver: str):
    port = _free_port()
    process = subprocess.Popen([driver, f"--port={port}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/status", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", f"--window-size={WIDTH},{SCREEN}"]
        capabilities = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": {"binary": chromium, "args": args}}}}
        session = Browser(base, "")._call("POST", "/session", capabilities)["sessionId"]
        b = Browser(base, session)
        try:
            inner = b.script("return [window.innerWidth, window.innerHeight];")
            if inner[1] != SCREEN:  # the window's chrome: make the viewport itself 1280×800
                b.command("POST", "/window/rect", {"width": WIDTH + WIDTH - inner[0],
                                                  "height": SCREEN + SCREEN - inner[1]})
            yield b
        finally:
            b._call("DELETE", f"/session/{session}")
    finally:
        process.terminate()
        process.wait(timeout=30)


def _first_screens(b: Browser, height: int) -> bytes:
    """The first two screens, stitched, at 40% (a small PNG, 32 colours)."""
    from PIL import Image

    sheet = Image.new("RGB", (WIDTH, max(SCREEN, min(height, SCREENS_ALLOWED * SCREEN))),
                      "white")
    for screen in range(SCREENS_ALLOWED):
        if screen * SCREEN >= sheet.height:
            break
        top = b.script("window.scrollTo(0, arguments[0]); return window.scrollY;",
                       screen * SCREEN)  # the browser stops at the page's end
        time.sleep(0.1)
        shot = Image.open(io.BytesIO(b.screenshot())).convert("RGB")
        sheet.paste(shot, (0, int(top)))
    b.script("window.scrollTo(0, 0);")
    sheet = sheet.resize((sheet.width * 2 // 5, sheet.height * 2 // 5), Image.LANCZOS)
    out = io.BytesIO()
    sheet.quantize(32).save(out, "PNG", optimize=True)
    return out.getvalue()


def pages(html: Path) -> list[Path]:
    """The book's pages: not Sphinx's index and search pages, not its assets,
    not a redirect (the root index.html sends the reader to the intro)."""
    return [p for p in sorted(html.rglob("*.html"))
            if not any(part[0] in "_." for part in p.relative_to(html).parts)
            and p.name not in SKIPPED and 'http-equiv="Refresh"' not in p.read_text()[:500]]


def measure(html: Path, out: Path, section_pages: str = SECTION_PAGES) -> dict:
    """Render every page of ``html``, write the screenshots and ``out``; return the record."""
    html, out = Path(html).resolve(), Path(out)
    shots = out.parent / out.stem
    shots.mkdir(parents=True, exist_ok=True)
    sections = {p.resolve() for p in html.glob(section_pages)}
    chromium, driver = ensure_chromium()
    version = subprocess.run([chromium, "--version"], capture_output=True,
                             text=True).stdout.strip()
    records = []
    with browser(chromium, driver) as b:
        for page in pages(html):
            b.open(page.as_uri())
            b.script("return document.fonts ? document.fonts.ready.then(() => true) : true;")
            layout = b.script(FIRST_ELEMENT_JS)
            name = page.relative_to(html).as_posix()
            png = shots / (name.replace("/", "__").removesuffix(".html") + ".png")
            png.write_bytes(_first_screens(b, int(layout["height"])))
            first = layout["first"]
            record = {"page": name, "section": page.resolve() in sections,
                      "height_screens": round(layout["height"] / SCREEN, 2),
                      "stream_lines": layout["stream_lines"],
                      "screenshot": png.relative_to(out.parent).as_posix(), "first": None}
            if first is not None:
                record["first"] = {"tag": first["tag"], "top_px": round(first["top_px"]),
                                   "screens": round(first["top_px"] / SCREEN, 2),
                                   "cell": first["text"]}
            record["ok"] = not record["section"] or (
                first is not None and first["top_px"] < SCREENS_ALLOWED * SCREEN)
            records.append(record)
            where = "no table or figure" if first is None else \
                f"first {first['tag']} at {first['top_px'] / SCREEN:.2f} screens"
            print(f"{'ok  ' if record['ok'] else 'FAIL'} {name}: {where}; page "
                  f"{record['height_screens']} screens, {record['stream_lines']} stream lines",
                  flush=True)
    result = {"window": [WIDTH, SCREEN], "screens_allowed": SCREENS_ALLOWED,
              "chromium": version, "commit": _commit(), "date": _now(),
              "ok": all(r["ok"] for r in records), "pages": records}
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                          capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=REPO / "_build" / "html")
    parser.add_argument("--out", type=Path, default=RESULTS / "page_layout.json")
    parser.add_argument("--sections", default=SECTION_PAGES,
                        help="glob (relative to --html) of the section pages")
    args = parser.parse_args(argv)
    if not args.html.is_dir():
        print(f"error: no built book at {args.html}; run make book first", file=sys.stderr)
        return 2
    result = measure(args.html, args.out, args.sections)
    print(f"{'every section page' if result['ok'] else 'NOT every section page'} shows its "
          f"first table or figure within {SCREENS_ALLOWED} screens; wrote {args.out}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
