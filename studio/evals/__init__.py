"""Evaluations: the ladder report over the stages of a recipe (base, +SFT, +DPO, +GRPO).

    from studio.evals.ladder import run_ladder, ladder_table
    out = run_ladder(studio, "suite.jsonl", modes=("fast", "reasoning", "auto"))
    print(ladder_table(out))          # `studio eval ladder` prints the same; stored as an EvalRun

What is where:
    ladder.py     one suite, every model of the ladder, every chat mode; scoring per family

The tool-call accuracy suite (`studio eval tools`) belongs to the tools area, in
studio.tools.suite, which also lists and shows every stored eval run (`studio evals list`).
"""
