"""Benchmark: import a 1,000,000-row SFT JSONL, next to a peer and next to the physical floor.

    .venv/bin/python bench/dataset_import.py [--rows 1000000]

Each contender runs in its own child process (a fresh interpreter, so peak RSS is its own):
  1. `datasets.load_dataset("json", data_files=...)` on the same file, with a fresh cache dir (the peer);
  2. the floor: the least a correct ingest into SQLite must do. Read each line, parse it with
     orjson (a bad line must be refused), `executemany` the lines as one JSON text column into
     one table of a fresh file database, 20,000 rows a batch (as the studio's writer), one
     transaction; no validation of the shape, no index, no hashing;
  3. `studio datasets import`'s code path (studio.datasets.importer.import_file) into a fresh home.
The studio's import is reported as a ratio to both, in wall seconds and in CPU seconds (all
threads; steadier on a shared machine, blind to waits on the disk). Then the time to show the
first page of the imported dataset in the Datasets page (offscreen Qt): from choosing the
dataset to its first 200 rows painted in the table, median of 5.
Targets (issue 3): ratio <= 2.0, peak RSS <= 1.5 GB, first page <= 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Each timed child starts both clocks after its setup and ends by printing this report. CPU
# seconds (all threads) are steadier than wall seconds on a shared machine; both are reported.
START = "t, c = time.perf_counter(), time.process_time()"
REPORT = """print(json.dumps({"seconds": time.perf_counter() - t, "cpu_s": time.process_time() - c, "rows": rows,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))"""

CHILD_IMPORT = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from studio.core import open_studio
from studio.datasets.importer import import_file
st = open_studio({home!r}, ensure_default_model=False)
{start}
rows = import_file(st.db, {path!r}, "bench").rows
{report}
"""

CHILD_FLOOR = """
import json, resource, sqlite3, time
import orjson
{start}
con = sqlite3.connect({db!r})
con.execute("CREATE TABLE rows (data TEXT)")
batch = []
with open({path!r}, "rb") as f, con:  # one transaction, committed at the end
    for raw in f:
        orjson.loads(raw)  # a line that is not JSON raises: the one check a correct ingest cannot skip
        batch.append((raw.decode(),))
        if len(batch) == 20_000:  # studio.datasets.store.BATCH, so both pay the same per-batch cost
            con.executemany("INSERT INTO rows VALUES (?)", batch)
            batch = []
    con.executemany("INSERT INTO rows VALUES (?)", batch)
rows = con.execute("SELECT count(*) FROM rows").fetchone()[0]
con.close()
{report}
"""

CHILD_HF = """
import json, resource, time, os
os.environ["HF_DATASETS_OFFLINE"] = "1"
from datasets import load_dataset
{start}
rows = len(load_dataset("json", data_files={path!r}, split="train", cache_dir={cache!r}))
{report}
"""

CHILD_PAGE = """
import json, os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
sys.path.insert(0, {root!r})
from PySide6.QtWidgets import QApplication
app = QApplication([])
from studio.core import open_studio
from ui.datasets_page import DatasetsPage
st = open_studio({home!r}, ensure_default_model=False)
page = DatasetsPage(st)
page.resize(1400, 820); page.show(); app.processEvents()
times = []
for _ in range(5):
    page.info = None
    page.model.set_query(None)
    app.processEvents()
    t = time.perf_counter()
    page.load_dataset("bench")  # the click on the dataset: summary + first page on worker threads
    while page.model.rowCount() == 0:
        app.processEvents()
        time.sleep(0.001)
    page.table.viewport().repaint()
    times.append(time.perf_counter() - t)
svc = page.service
vid = page.info["version_id"]
from ui.dataset_table import DatasetTableModel
deep = DatasetTableModel(svc); deep.load_sync(vid)
for _ in range(20):
    deep.fetch_page_sync()
t = time.perf_counter(); deep.fetch_page_sync(); deep_page = time.perf_counter() - t
t = time.perf_counter(); svc.ensure_search_index(); index_s = time.perf_counter() - t
t = time.perf_counter(); hits = svc.page(vid, search="helpful reason", limit=200); search_ms = (time.perf_counter() - t) * 1000
t = time.perf_counter(); svc.page(vid, limit=200, sort="length", descending=True); sort_ms = (time.perf_counter() - t) * 1000
from studio.datasets.service import Op
t = time.perf_counter(); svc.edit("bench", [Op.tag([0, 1], "checked")]); edit_s = time.perf_counter() - t
page.shutdown()
print(json.dumps({{"first_page_ms": sorted(times)[2] * 1000, "page_after_20_pages_ms": deep_page * 1000,
                  "rows_shown": page.model.rowCount(), "fts_index_s": index_s, "search_ms": search_ms,
                  "sort_by_length_ms": sort_ms, "edit_s": edit_s}}))
"""


def make_file(path: Path, rows: int) -> None:
    rng = random.Random(0)
    words = "the a model data answer question train loss token chat user helpful tool reason step".split()
    with open(path, "w") as f:
        for i in range(rows):
            q = " ".join(rng.choice(words) for _ in range(rng.randint(5, 20)))
            a = " ".join(rng.choice(words) for _ in range(rng.randint(10, 40)))
            f.write(json.dumps({"messages": [{"role": "user", "content": f"{i}: {q}?"}, {"role": "assistant", "content": a}]}))
            f.write("\n")


def timed(code: str, **values) -> dict:
    return child(code.format(start=START, report=REPORT, **values))


def describe(r: dict) -> str:
    return (f"{r['seconds']:.2f} s ({r['cpu_s']:.2f} s CPU), peak RSS {r['peak_rss_mb']:.0f} MB, "
            f"{r['rows'] / r['seconds']:,.0f} rows/s")


def child(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows in the generated JSONL (default 1,000,000)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "sft.jsonl"
        t = time.perf_counter()
        make_file(path, args.rows)
        print(f"generated {args.rows:,} rows, {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - t:.1f} s", flush=True)
        hf = timed(CHILD_HF, path=str(path), cache=str(tmp / "hf-cache"))
        floor = timed(CHILD_FLOOR, path=str(path), db=str(tmp / "floor.db"))
        floor_db_mb = (tmp / "floor.db").stat().st_size / 1e6
        ours = timed(CHILD_IMPORT, root=str(ROOT), home=str(tmp / "home"), path=str(path))
        db_mb = (tmp / "home" / "studio.db").stat().st_size / 1e6
        ratio = ours["seconds"] / hf["seconds"]
        ratio_floor = ours["seconds"] / floor["seconds"]
        # The import figures first: the page measures below take as long again on a busy machine.
        print(f"datasets.load_dataset('json') (peer): {describe(hf)}")
        print(f"floor (orjson parse + executemany into one SQLite table): {describe(floor)}, database {floor_db_mb:.0f} MB")
        print(f"studio import (CLI code path): {describe(ours)}, database {db_mb:.0f} MB")
        print(f"ratio studio / load_dataset: {ratio:.2f} (target <= 2.0); in CPU seconds {ours['cpu_s'] / hf['cpu_s']:.2f}")
        print(f"ratio studio / floor: {ratio_floor:.2f}; in CPU seconds {ours['cpu_s'] / floor['cpu_s']:.2f}")
        print(f"ratio load_dataset / floor: {hf['seconds'] / floor['seconds']:.2f}; in CPU seconds {hf['cpu_s'] / floor['cpu_s']:.2f}",
              flush=True)
        page = child(CHILD_PAGE.format(root=str(ROOT), home=str(tmp / "home")))
    print(f"first page in the table view: {page['first_page_ms']:.0f} ms (median of 5, target <= 300 ms); "
          f"a page after 20 pages: {page['page_after_20_pages_ms']:.0f} ms")
    print(f"full-text index of the {args.rows:,} rows (once, in the background after import): {page['fts_index_s']:.1f} s; "
          f"a search page after that: {page['search_ms']:.0f} ms")
    print(f"first page sorted by length: {page['sort_by_length_ms']:.0f} ms; "
          f"one edit (tag 2 rows -> a new version of {args.rows:,} rows): {page['edit_s']:.1f} s")
    print(json.dumps({"rows": args.rows, "studio_s": round(ours["seconds"], 2), "load_dataset_s": round(hf["seconds"], 2),
                      "floor_s": round(floor["seconds"], 2), "ratio": round(ratio, 2), "ratio_to_floor": round(ratio_floor, 2),
                      "studio_cpu_s": round(ours["cpu_s"], 2), "load_dataset_cpu_s": round(hf["cpu_s"], 2), "floor_cpu_s": round(floor["cpu_s"], 2),
                      "floor_peak_rss_mb": round(floor["peak_rss_mb"]), "peak_rss_mb": round(ours["peak_rss_mb"]), "hf_peak_rss_mb": round(hf["peak_rss_mb"]),
                      "first_page_ms": round(page["first_page_ms"], 1), "deep_page_ms": round(page["page_after_20_pages_ms"], 1),
                      "fts_index_s": round(page["fts_index_s"], 1), "search_ms": round(page["search_ms"], 1),
                      "sort_by_length_ms": round(page["sort_by_length_ms"]), "edit_s": round(page["edit_s"], 1)}))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
