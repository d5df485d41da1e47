"""The product packages (studio/, engines/, ui/) never reach into tests/.

Test helpers (tests/helpers/) are not installed with the app, so an import of them, or a
"tests.…" module path in a table such as engines.run_job.JOB_KINDS, would break a user's copy.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("studio", "engines", "ui")
TEST_PACKAGES = [p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and not p.name.startswith((".", "_"))]
# "tests.helpers.dummy_job:run", not the word "tests" nor a file name like "tests.py"
TEST_MODULE_PATH = re.compile(r"tests\.(%s)\b" % "|".join(TEST_PACKAGES))


def test_the_product_never_imports_or_names_the_tests():
    found = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names if a.name.split(".")[0] == "tests"]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module] if node.level == 0 and node.module.split(".")[0] == "tests" else []
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    names = [node.value] if TEST_MODULE_PATH.match(node.value) else []
                else:
                    continue
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: {n}" for n in names]
    assert not found, "\n".join(found)
