"""Datasets: import, validate, browse, edit, rate and version training data in SQLite.

    from studio.datasets.service import DatasetService, Op
    svc = DatasetService(studio)                      # the entry point of the page and the CLI
    svc.import_file("chats.jsonl", "support")         # all rows or none, as a new version
    svc.edit("support", [Op.delete([3, 4])])          # every change makes a new version

    from studio.datasets.rows import iter_rows, resolve_version
    v = resolve_version(studio.db, "support")         # the latest version
    for row in iter_rows(studio.db, v.id, split="train"): ...

What is where:
    service.py    DatasetService: import, export, page, edit, revert, split, stats, quality
    rows.py       the small shared API over versions (resolve, read rows, append rows), which
                  training, the chat's compare votes and the rate view use directly
    importer.py   a file -> a version, all or nothing;  formats.py / shapes.py: readers, row shapes
    store.py      bulk writes over the raw sqlite3 connection;  models.py: this area's tables
    quality.py    the quality report;  tokens.py: exact token counts;  rating.py: the Rate view
"""
