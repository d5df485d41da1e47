"""Figures for bench/results/tools.md: sandbox start-up overhead, intent classifier training
and prediction time. Run: .venv/bin/python bench/tools_bench.py"""

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engines.tools.sandbox import run_python
from engines.tools.intent import train_intent, load_examples, DEFAULT_DATASET


def med(f, n=10):
    ts=[]
    for _ in range(n):
        t=time.perf_counter(); f(); ts.append(time.perf_counter()-t)
    return statistics.median(ts)
plain = med(lambda: subprocess.run([sys.executable, '-I', '-c', 'pass'], check=True))
sb = med(lambda: run_python('pass'))
sbnp = med(lambda: run_python('import numpy'), 5)
plainnp = med(lambda: subprocess.run([sys.executable, '-I', '-c', 'import numpy'], check=True), 5)
ex = load_examples(DEFAULT_DATASET)
tr = med(lambda: train_intent(ex, cross_validate=False), 5)
t=time.perf_counter(); clf=train_intent(ex, cross_validate=True); cv=time.perf_counter()-t
qs=[q for q,_ in ex]
pr = med(lambda: clf.predict_many(qs), 5)/len(qs)
one = med(lambda: clf.predict("what's 17.5% of 2,340?"), 20)
print(json.dumps(dict(plain_python_s=plain, sandbox_pass_s=sb, plain_numpy_s=plainnp, sandbox_numpy_s=sbnp, train_s=tr, train_with_cv_s=cv, cv_accuracy=clf.meta['cv_accuracy'], predict_batch_per_query_ms=pr*1000, predict_one_ms=one*1000, examples=len(ex)), indent=1))
