"""`test --beam` on the local runner with 2 worker processes beside plain `test`, in one run.

    python bench/beam.py [--run PATH] [--data-dir DIR] [--limit N] [--short-lines 1000000] [--engine numpy] [--batch-size B]

Two inputs: the IMDB test reviews (../shared/data/imdb/testing_data.txt.gz, 25,000 long texts;
skipped, said so, when absent) and --short-lines short lines (the tweets' test texts repeated,
written once into bench/out/beam/, git-ignored; skipped when the tweets are absent). --limit N
keeps the first N rows of each (a quick check that the script works; not figures to report).

Each input is labeled by the same run, engine and batch size, one command after the other:
- `test`: plain `sentiment-cli test RUN --input FILE --output CSV -q`;
- `beam x2`: `sentiment-cli test RUN --beam --input FILE --output PREFIX --overwrite -- \\
  --direct_num_workers=2 --direct_running_mode=multi_processing` (the FnApiRunner in the
  process, two SDK worker processes).
Printed per command: rows, wall seconds of the whole process, rows/s of the whole process,
start-up seconds (the same command on a one-row file of the same input: Python, imports, the
run's load, and for Beam the pipeline and its workers), rows/s after start-up ((rows - 1) /
(wall - start-up)), and the peak resident memory of each process (the launcher and every worker,
by sampling VmHWM in /proc every 0.2 s; /usr/bin/time's %M would give only the largest one).
The issue's targets: beam x2's rows/s per worker core within 1.5x of plain `test`'s, start-up
under 30 s, under 1 GB per worker process.

RUN (--run): a finished run directory; by default bench/out/beam/imdb, trained by this script
with `train`'s defaults on the IMDB training reviews if it is not there (several minutes).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SHARED = REPO.parent / "shared" / "data"
OUT = BENCH / "out" / "beam"


def cli() -> list[str]:
    script = Path(sys.executable).parent / "sentiment-cli"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from sentiment_cli.cli import cli; cli()"]


def _tree(root: int) -> list[int]:
    """root and its descendants, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _peak_kb(pid: int) -> tuple[str, int] | None:
    """The process's name and its peak resident memory so far (kB)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        return status["Name"].strip(), int(status["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        return None


def timed(cmd: list[str]) -> tuple[float, list[int]]:
    """Wall seconds of the whole command, and the peak resident memory (MB) of each Python
    process it ran (the shell that Beam starts its workers through left out)."""
    peaks = {}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while proc.poll() is None:
        for pid in _tree(proc.pid):
            seen = _peak_kb(pid)
            if seen and seen[0].startswith(("python", "sentiment-cli")):
                peaks[pid] = max(peaks.get(pid, 0), seen[1])
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    out, err = proc.communicate()
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{err.decode(errors='replace')[-3000:]}")
    return seconds, sorted((kb // 1024 for kb in peaks.values()), reverse=True)


def slice_file(source: Path, target: Path, rows: int | None, header: bool) -> int:
    """The first ``rows`` rows of a gzipped file (its header kept), as plain text; rows written."""
    with gzip.open(source, "rt", encoding="utf-8") as src, open(target, "w", encoding="utf-8") as dst:
        if header:
            dst.write(next(src))
        count = 0
        for line in itertools.islice(src, rows):
            dst.write(line)
            count += 1
    return count


def short_lines(shared: Path, count: int) -> Path | None:
    source = shared / "tweets" / "testing_data.txt.gz"
    if not source.exists():
        print(f"skipped: short lines ({source} is absent)", file=sys.stderr)
        return None
    target = OUT / f"short-{count}.txt"
    if not target.exists():
        with gzip.open(source, "rt", encoding="utf-8") as f:
            next(f)  # id,text
            texts = [line.rstrip("\n").partition(",")[2] for line in f]
        with open(target, "w", encoding="utf-8") as f:
            for text in itertools.islice(itertools.cycle(texts), count):
                f.write(text + "\n")
    return target


def ensure_run(shared: Path, path: Path) -> Path:
    if (path / "config.json").exists():
        return path
    train = shared / "imdb" / "training_label.txt.gz"
    if not train.exists():
        sys.exit(f"no run at {path}, and no {train} to train one: pass --run PATH")
    print(f"training {path} on {train} with train's defaults (several minutes)", file=sys.stderr)
    subprocess.run(cli() + ["train", path.name, "--train", str(train), "--models-dir", str(path.parent), "-q"],
                   check=True, stdout=subprocess.DEVNULL)
    return path


def measure(name: str, data: Path, run: Path, options: list[str]) -> list[dict]:
    """Both commands over ``data`` and over its first row."""
    one = OUT / f"{data.stem}-one{data.suffix}"
    with open(data, encoding="utf-8") as src, open(one, "w", encoding="utf-8") as dst:
        first = next(src)
        dst.write(first)
        if first.strip().lower() == "id,text":
            dst.write(next(src))
    rows = sum(1 for _ in open(data, encoding="utf-8")) - (1 if first.strip().lower() == "id,text" else 0)
    results = []
    for label, command in (("test", lambda src, out: ["test", str(run), "--input", str(src), "--output", f"{out}.csv",
                                                     "-q", *options]),
                           ("beam x2", lambda src, out: ["test", str(run), "--beam", "--input", str(src), "--output",
                                                         str(out), "--overwrite", *options, "--",
                                                         "--direct_num_workers=2",
                                                         "--direct_running_mode=multi_processing"])):
        startup, _ = timed(cli() + command(one, OUT / f"{name}-{label.split()[0]}-one"))
        seconds, peaks = timed(cli() + command(data, OUT / f"{name}-{label.split()[0]}"))
        results.append({"data": name, "command": label, "rows": rows, "seconds": seconds, "startup": startup,
                        "rows_per_second": rows / seconds,
                        "after_startup": (rows - 1) / (seconds - startup) if seconds > startup else float("nan"),
                        "peaks": peaks})
    return results


def table(results: list[dict]) -> str:
    head = ("data", "command", "rows", "wall s", "rows/s", "start-up s", "rows/s after start-up", "peak MB per process")
    lines = [head]
    for r in results:
        lines.append((r["data"], r["command"], f"{r['rows']:,}", f"{r['seconds']:.1f}", f"{r['rows_per_second']:,.0f}",
                      f"{r['startup']:.1f}", f"{r['after_startup']:,.0f}", " / ".join(map(str, r["peaks"]))))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths)) + " |" for line in lines]
    text.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=OUT / "imdb", help="a finished run directory")
    parser.add_argument("--data-dir", type=Path, default=SHARED, help="holds imdb/ and tweets/ (default: %(default)s)")
    parser.add_argument("--limit", type=int, help="the first N rows of each input only (a check, not figures)")
    parser.add_argument("--short-lines", type=int, default=1_000_000)
    parser.add_argument("--engine", default="numpy", choices=["numpy", "tensorflow"])
    parser.add_argument("--batch-size", type=int, default=None, help="both commands' --batch-size (default: test's)")
    args = parser.parse_args()
    shared = args.data_dir
    OUT.mkdir(parents=True, exist_ok=True)
    if not Path("/proc/self/status").exists():
        sys.exit("this benchmark reads /proc (Linux)")
    run = ensure_run(shared, args.run)
    options = ["--engine", args.engine] + (["--batch-size", str(args.batch_size)] if args.batch_size else [])
    results = []
    imdb = shared / "imdb" / "testing_data.txt.gz"
    if imdb.exists():
        data = OUT / (f"imdb-test-{args.limit}.txt" if args.limit else "imdb-test.txt")
        slice_file(imdb, data, args.limit, header=True)
        results += measure("IMDB test reviews", data, run, options)
    else:
        print(f"skipped: IMDB test reviews ({imdb} is absent)", file=sys.stderr)
    lines = short_lines(shared, min(args.short_lines, args.limit) if args.limit else args.short_lines)
    if lines is not None:
        results += measure("short lines", lines, run, options)
    if not results:
        sys.exit(f"nothing to measure: no data in {shared}")
    print(f"run {run}, --engine {args.engine}{'' if not args.batch_size else f', --batch-size {args.batch_size}'}, "
          f"{os.cpu_count()} CPUs" + (f", first {args.limit:,} rows only: a check, not figures" if args.limit else ""))
    print(table(results))
    for data in {r["data"] for r in results}:
        plain, beam = (next(r for r in results if r["data"] == data and r["command"] == c) for c in ("test", "beam x2"))
        print(f"{data}: beam x2 per worker core / test = {beam['after_startup'] / 2 / plain['after_startup']:.2f} "
              f"(after start-up; target: test within 1.5x, i.e. >= 0.67), start-up {beam['startup']:.1f} s "
              f"(target < 30), largest process {max(beam['peaks'])} MB (target < 1,024)")


if __name__ == "__main__":
    main()
