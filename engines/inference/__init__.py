"""Inference: a model host that owns llama.cpp models, a remote OpenAI-compatible backend,
thinking parsing, budget forcing, difficulty routing and per-turn accounting.

Every module here works on plain data (strings, dicts, dataclasses) and never imports Qt or
the studio. Heavy imports (llama_cpp) happen only inside the model-host child process.

    from engines.inference.host import LocalBackend, ModelSpec
    from engines.inference.turn import TurnRequest, run_turn

    backend = LocalBackend()
    result = run_turn(backend, TurnRequest(model=ModelSpec(path), messages=[...], mode="reasoning"))
"""
