"""Model Studio's headless core: database, datasets, jobs, registry, services and CLI.

    from studio import open_studio
    studio = open_studio()                    # STUDIO_HOME, or the user's data folder
    studio.registry.list("base")              # the models (studio.models.registry)
    studio.jobs.list()                        # the job queue (studio.jobs)
    studio.close()

Nothing here imports Qt (an import-linter contract in pyproject.toml checks it), so every
feature the window offers also runs from the `studio` command line and in tests.

What is where, one package per service:
    core.py      open_studio() and the Studio object: one data home, its database, registry, jobs
    db/          the tables, sessions and Alembic migrations
    models/      the model registry, exports to GGUF, pulling from the Hub, the Hugging Face cache
    datasets/    import, validate, browse, edit, rate and version training data
    training/    the training methods and the service: a plan -> a job -> a registered adapter
    jobs/        the queue and the child processes that run training, export and eval work
    chat/        conversations, the fast / reasoning / auto modes, compare votes
    tools/       tool use: which tools exist, routing a query to one, the accuracy suite
    evals/       the ladder report over a recipe's stages
    serve/       the OpenAI-compatible server (`studio serve`)
    starter/     the shipped starter assistant: its curriculum, its recipe, its install
    cli/         the `studio` command line, one module per area
Small shared modules: errors.py (StudioError), home.py (the data home's folders),
hardware.py (the device), llama_choice.py (llama.cpp's extra buffers on this machine),
xcb_check.py (can Qt's xcb plugin load here).
"""

from studio.errors import StudioError, UserError

__all__ = ["StudioError", "UserError", "open_studio"]


def open_studio(home=None, *, ensure_default_model=True):
    """Open (and on first use create) a data home; see studio.core.Studio."""
    from studio.core import open_studio as _open

    return _open(home, ensure_default_model=ensure_default_model)
