"""Helpers shared by the end-to-end benchmark scripts: timing commands with their peak memory,
running DuckDB in its own process (so its memory is measured the same way), and updating one
marked section of BENCHMARKS.md."""
import os
import pathlib
import platform
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
FLOWLENS = os.environ.get("FLOWLENS", str(ROOT / "target" / "release" / "flowlens"))
DATA = pathlib.Path(os.environ.get("BENCH_DATA", ROOT / "target" / "bench-data"))


def timed(cmd, env=None):
    """Runs cmd under GNU time; returns (wall seconds, peak RSS in MiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", tf.name, *map(str, cmd)], check=True,
                       stdout=subprocess.DEVNULL, env=env)
        wall, rss_kb = tf.read().split()[-2:]
    return float(wall), int(rss_kb) / 1024


def duckdb_sql(sql):
    """Runs SQL in a fresh DuckDB process; returns (seconds spent in execute, peak RSS in MiB).
    Interpreter start-up and `import duckdb` are not counted against DuckDB."""
    code = ("import duckdb,sys,time; con = duckdb.connect(); q = sys.stdin.read(); t = time.perf_counter(); "
            "con.execute(q).fetchall(); print(time.perf_counter() - t)")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(sql)
    try:
        with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
            out = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", tf.name, sys.executable, "-c", code],
                                 stdin=open(f.name), check=True, capture_output=True, text=True).stdout
            rss_kb = tf.read().split()[-1]
        return float(out.split()[-1]), int(rss_kb) / 1024
    finally:
        os.unlink(f.name)


def summarize(runs):
    """(median wall seconds, max peak RSS MiB) of a list of `timed` results."""
    return statistics.median(t for t, _ in runs), max(m for _, m in runs)


def flowlens(*args):
    subprocess.run([FLOWLENS, *map(str, args)], check=True)


def machine():
    import duckdb
    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"DuckDB {duckdb.__version__}")


def update_section(name, text):
    """Replaces the text between <!-- name:begin --> and <!-- name:end --> in BENCHMARKS.md."""
    path = ROOT / "BENCHMARKS.md"
    doc = path.read_text() if path.exists() else "# Benchmarks\n"
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in doc:
        doc = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, doc, flags=re.S)
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    path.write_text(doc)


# Runs one command and reports its wall time, its CPU time (user + system) and its peak RSS (KiB),
# as JSON on stdout; the command's stderr is passed back in the JSON.
MEASURE = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - t
if p.returncode:
    sys.stderr.write(p.stderr.decode()); sys.exit(p.returncode)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "maxrss_kb": ru.ru_maxrss, "cpu": ru.ru_utime + ru.ru_stime,
                  "stderr": p.stderr.decode()}))
"""


def run(cmd, **kw):
    """Runs cmd (any path-like arguments), failing on a non-zero exit."""
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def measure(cmd):
    """Runs cmd in a child process of its own; returns {wall, maxrss_kb, cpu, stderr}."""
    import json
    p = run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True)
    return json.loads(p.stdout)


def mib(kb):
    return f"{kb / 1024:,.0f} MiB"
