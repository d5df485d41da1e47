"""ML work as plain functions over typed configs and plain data.

No Qt, no studio, no database (import-linter checks it). Training, conversion, inference
and tools live here; the job child process (`python -m engines.run_job`) dispatches to them.
"""
