"""ML work as plain functions over typed configs and plain data.

    python -m engines.run_job JOB_DIR          # every job child: JOB_DIR/spec.json names the kind
    from engines.templates import get_template
    get_template("gemma").training             # one chat template, for training and inference

No Qt, no studio, no database (import-linter checks it). What is where:
    training/     SFT, reward model, DPO, GRPO: a config and a function each
    conversion/   GGUF <-> Hugging Face, LoRA -> GGUF, merged exports, Ollama Modelfiles
    inference/    the model host that owns llama.cpp, turns, thinking, routing, accounting
    tools/        the tools a chat turn can call, and the intent classifier
    run_job.py, jobkit.py   the job child: JOB_KINDS -> a function, events out, stop requests in
    templates.py  the chat templates
"""
