"""`flowlens report`: the page's tables are the day's CSVs, and the page holds up in a browser.

A store of two generated days (`flowlens gen --plant`: servers, scanners, P2P, a compromised
host) made by `flowlens daily`; the page of day 2 with a hosts file that names the two busiest
hosts `<img/src=x/onerror=alert(1)>` and `"><script>alert(2)</script>` (hosts(5) names have no
blanks: a `/` separates the attributes as a blank would).

- The tables, parsed with html.parser: every port profile equals the host's rows of
  STORE/csv/date=D/ports.csv (exact numbers, in the cells' titles) and of `flowlens ports`' text
  table (the K/M/G cells and labels); the new servers equal servers.csv's `new` rows; each
  findings group equals findings.csv's rows of its tag.
- In headless Chromium (Debian's `chromium`): the DOM after parsing (--dump-dom) has the same
  tables, no element made from a host name, no script; a screenshot is taken (UPDATE_SCREENSHOTS=1
  writes it to docs/report.png and docs/report-phone.png, which the README shows).
  BROWSER_TESTS=yes (set by `make test` when chromium is installed, and by .ci/run) makes a missing
  chromium a failure; without chromium the test is skipped with the reason.
"""
import csv
import html.parser
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DAYS = ["2026-11-20", "2026-11-21"]
DAY = DAYS[1]
LOCAL = "10.0.0.0/16"
EVIL = ["<img/src=x/onerror=alert(1)>", '"><script>alert(2)</script>']
NUMBERS = ["flows", "in_packets", "in_bytes", "out_packets", "out_bytes", "total_packets", "total_bytes"]


class Tables(html.parser.HTMLParser):
    """The page's tables with a data-report attribute: their attributes, header and rows (each
    cell as (text, title)); every start tag seen; the text of every h3."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self.tags, self.h3 = [], [], []
        self.table = self.cell = self.row = None
        self.in_h3 = False
        self.attrs_seen = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.attrs_seen.append((tag, a))
        if tag == "table" and "data-report" in a:
            self.table = {"attrs": a, "head": [], "rows": []}
        elif self.table is not None and tag == "tr":
            self.row = []
        elif self.table is not None and tag in ("td", "th"):
            self.cell = ["", a.get("title")]
        elif tag == "h3":
            self.in_h3 = True
            self.h3.append("")

    def handle_endtag(self, tag):
        if self.table is not None and tag in ("td", "th") and self.cell is not None:
            self.row.append((self.cell[0].strip(), self.cell[1]))
            self.cell = None
        elif self.table is not None and tag == "tr":
            if self.row and not self.table["head"] and all(c[1] is None for c in self.row) and not self.table["rows"]:
                self.table["head"] = [c[0] for c in self.row]
            else:
                self.table["rows"].append(self.row)
            self.row = None
        elif self.table is not None and tag == "table":
            self.tables.append(self.table)
            self.table = None
        elif tag == "h3":
            self.in_h3 = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[0] += data
        if self.in_h3:
            self.h3[-1] += data


def parse(text):
    p = Tables()
    p.feed(text)
    p.close()
    return p


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def undefuse(v):
    """findings.csv prefixes a value that a spreadsheet would run as a formula with `'`."""
    return v[1:] if v[:2] in ("'=", "'+", "'-", "'@") else v


@pytest.fixture(scope="module")
def day(flowlens, tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    store = d / "store"
    for i, date in enumerate(DAYS):
        rw = d / f"{date}.rw"
        flowlens("gen", "--rows", "30000", "--seed", str(i + 1), "--start", date, "--plant", "-o", rw)
        flowlens("daily", "--store", store, "--date", date, "--local", LOCAL, "-q", rw)
    csvs = store / "csv" / f"date={DAY}"
    ports = read_csv(csvs / "ports.csv")
    busiest = list(dict.fromkeys(r["ip"] for r in ports))[:2]
    hosts = d / "hosts.txt"
    hosts.write_text("".join(f"{ip} {name}\n" for ip, name in zip(busiest, EVIL)))
    page = d / "report.html"
    flowlens("report", store, "--date", DAY, "--local", LOCAL, "--hosts", hosts, "-o", page)
    text = flowlens(
        "ports", store / "flows", "--from", DAY, "--to", DAY, "--local", LOCAL, "--hosts", hosts, "-q"
    ).stdout
    return {
        "dir": d,
        "store": store,
        "page": page,
        "busiest": busiest,
        "ports": ports,
        "servers": read_csv(csvs / "servers.csv"),
        "findings": read_csv(csvs / "findings.csv"),
        "ports_text": text,
    }


def check_tables(p, day):
    """The page's tables against the day's CSVs and `flowlens ports`' table."""
    by_ip = {}
    for r in day["ports"]:
        by_ip.setdefault(r["ip"], []).append(r)
    text_rows = [line.split() for line in day["ports_text"].splitlines() if line and not line.startswith(("Host ", "(F ", "i.e."))]
    profiles = [t for t in p.tables if t["attrs"]["data-report"] == "ports"]
    assert len(profiles) >= 10
    # The top hosts are the port report's first hosts, in its order.
    order = list(dict.fromkeys(r["ip"] for r in day["ports"]))
    top = [t["attrs"]["data-ip"] for t in profiles][: min(25, len(order))]
    assert top == order[: len(top)]
    for t in profiles:
        ip = t["attrs"]["data-ip"]
        want = by_ip[ip]
        assert len(t["rows"]) == len(want), ip
        for cells, row in zip(t["rows"], want):
            assert [int(c[1]) for c in cells[1:]] == [int(row[n]) for n in NUMBERS], (ip, cells, row)
        # The same K/M/G cells and labels as `flowlens ports` prints for the host (its name
        # first; names from the hosts file have no blanks).
        name = t["attrs"]["data-hostname"]
        printed = [r[1:] for r in text_rows if r[0] == name]
        assert [[c[0] for c in cells] for cells in t["rows"]] == printed, ip
    # New servers: servers.csv's `new` rows, column by column.
    new = [r for r in day["servers"] if r.get("status") == "new"]
    tables = [t for t in p.tables if t["attrs"]["data-report"] == "servers"]
    if new:
        (t,) = tables
        got = [dict(zip(t["head"], [c[0] for c in cells])) for cells in t["rows"]]
        assert got == [{k: r[k] for k in t["head"]} for r in new[: len(got)]]
        assert len(got) == min(len(new), 100)
    else:
        assert not tables
    # Findings: one table per tag with rows, each equal to findings.csv's rows of the tag.
    groups = {t["attrs"]["data-tag"]: t for t in p.tables if t["attrs"]["data-report"] == "findings"}
    tags = {r["tag"] for r in day["findings"]}
    assert set(groups) == tags
    assert {"scanner", "server"} <= tags
    for tag, t in groups.items():
        want = [{k: undefuse(v) for k, v in r.items()} for r in day["findings"] if r["tag"] == tag]
        got = [dict(zip(t["head"], [c[0] for c in cells])) for cells in t["rows"]]
        assert t["head"] == list(day["findings"][0].keys())
        assert got == want[: len(got)] and len(got) == min(len(want), 100), tag


def check_safe(p):
    """No element made from a host name, no script, nothing loaded: names are text."""
    assert "script" not in p.tags and "img" not in p.tags
    for tag, a in p.attrs_seen:
        assert "src" not in a and not any(k.startswith("on") for k in a), (tag, a)
        if "href" in a:
            assert a["href"].startswith("#"), a
    for name in EVIL:
        assert any(name in h for h in p.h3), f"{name} is not shown as text"


def test_page_tables_equal_the_csvs(day):
    p = parse(day["page"].read_text())
    check_tables(p, day)
    check_safe(p)


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    want = os.environ.get("BROWSER_TESTS", "")
    if exe is None:
        if want == "yes":
            pytest.fail("BROWSER_TESTS=yes but chromium is not installed: apt-get install chromium (.ci/run does)")
        pytest.skip("chromium is not installed (apt-get install chromium; BROWSER_TESTS=yes makes this a failure)")
    if want == "no":
        pytest.skip("BROWSER_TESTS=no")
    return exe


def run_chromium(exe, profile, *args):
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",  # root, and no user namespaces in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",  # a small /dev/shm in containers
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)


def test_page_in_headless_chromium(day, tmp_path):
    exe = chromium()
    url = day["page"].resolve().as_uri()
    dom = run_chromium(exe, tmp_path / "profile", "--dump-dom", url).stdout
    assert "<table" in dom, dom[:500]
    p = parse(dom)
    check_tables(p, day)
    check_safe(p)
    shots = {"report.png": "1280,2200", "report-phone.png": "412,1800"}
    for name, size in shots.items():
        out = tmp_path / name
        run_chromium(exe, tmp_path / "profile", f"--screenshot={out}", f"--window-size={size}", url)
        data = out.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width = int.from_bytes(data[16:20], "big")
        assert width == int(size.split(",")[0]), width
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            shutil.copy(out, ROOT / "docs" / name)
