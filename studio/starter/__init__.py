"""The starter assistant: the studio turns its own base model into the assistant a new user chats with.

    studio recipe run starter --wait --json        # SFT -> DPO -> GRPO -> GGUF LoRA -> register
    from studio.starter.recipe import load_recipe, run_recipe
    from studio.starter.install import ensure_starter      # open_studio() calls it: installed once, a deleted starter stays deleted

What is where:
    curriculum.py     the training data and the held-out suite, from seeds and hand-written rows
    math_problems.py  word problems with one to three labelled steps, for both modes
    recipe.py         load the YAML recipe, run its stages as jobs (resumable), ship the result
    install.py        copy the packaged adapter into a home and register it as the chat's default
    data/             starter.yaml (the recipe), curriculum/*.jsonl, starter.gguf and starter.json

The ladder that measures each stage is studio/evals/ladder.py; the figures are in bench/RESULTS.md.
"""
