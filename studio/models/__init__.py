"""Models: the registry of base models, adapters and exports, and the files behind each entry.

    studio.registry.import_path("~/models/qwen.gguf")      # a Registry (registry.py), on every Studio
    studio.registry.list("adapter")                         # each with its lineage: parent, job, dataset
    job_id = submit_export(studio, "my-adapter", merge=True, out_type="q8_0")      # exports.py
    model = pull_model(studio, "google/gemma-3-270m")      # hub_pull.py (online only)
    hf_dir = ensure_hf_model(studio, "gemma-3-270m (base)")  # hf_cache.py (converts a GGUF once)

What is where:
    registry.py   the entries (base | adapter | export), their lineage, change notifications,
                  the packaged default model
    exports.py    an adapter -> GGUF files for llama.cpp and Ollama (an "export" job), and lineage
    hub_pull.py   downloading a model from the Hugging Face Hub into models/
    hf_cache.py   where a model's Hugging Face form lives, and converting a GGUF base to it

Adapters are made by training jobs (studio.training.finish registers them).
"""
