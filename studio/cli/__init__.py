"""The `studio` command line: everything the window does, headless.

    studio models list --json
    studio train sft --base "gemma-3-270m (base)" --dataset greetings --preset quick --wait
    main(["datasets", "list", "--json"])       # the same from Python; returns the exit code

Every subcommand takes `--json` (one JSON object on stdout) and `--home DIR`.
Exit codes: 0 success, 2 a user error (one line on stderr), 1 an internal error.

Each feature area registers its subcommands from its own module (studio/cli/<area>.py),
so the areas grow without editing one shared file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any

from studio.errors import StudioError

AREAS = ["core", "datasets", "train", "train_pref", "export", "chat", "tools", "evals", "recipe", "serve"]


class Context:
    """Lazily opens the studio, so `studio --help` and `studio gui` stay fast."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self._studio = None

    @property
    def studio(self):
        if self._studio is None:
            from studio.core import open_studio

            self._studio = open_studio(getattr(self.args, "home", None))
        return self._studio

    def close(self) -> None:
        if self._studio is not None:
            self._studio.close()


def common_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object on stdout")
    p.add_argument("--home", default=argparse.SUPPRESS, help="the data home (default: STUDIO_HOME or the user data dir)")
    return p


def command_group(sub, common, name: str, help: str, metavar: str = "ACTION"):
    """`studio NAME ACTION ...`: a command whose ACTION is required (it lands in args.NAME_cmd);
    returns the subparsers that the ACTIONs are added to."""
    group = sub.add_parser(name, parents=[common], help=help)
    actions = group.add_subparsers(dest=f"{name}_cmd", metavar=metavar)
    actions.required = True
    return actions


def action(actions, common, name: str, func, **kw) -> argparse.ArgumentParser:
    """One subcommand that runs func(args, ctx) -> result and takes --json and --home;
    returns its parser for the subcommand's own arguments."""
    p = actions.add_parser(name, parents=[common], **kw)
    p.set_defaults(func=func)
    return p


def build_parser() -> argparse.ArgumentParser:
    common = common_parser()
    parser = argparse.ArgumentParser(
        prog="studio", description="Model Studio: post-train a base model into an assistant.", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    groups: dict[str, Any] = {"common": common}
    for area in AREAS:
        importlib.import_module(f"studio.cli.{area}").register(sub, groups)
    return parser


def emit(args: argparse.Namespace, result: Any) -> None:
    if result is None:
        return
    if getattr(args, "json", False):
        print(json.dumps(result, default=str))
        return
    print(human(result))


def human(result: Any, indent: int = 0) -> str:
    pad = " " * indent
    if isinstance(result, dict):
        lines = []
        for k, v in result.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.append(human(v, indent + 2))
            else:
                lines.append(f"{pad}{k}: {v}")
        return "\n".join(lines)
    if isinstance(result, list):
        return "\n".join(
            (f"{pad}- " + ", ".join(f"{k}={v}" for k, v in item.items() if not isinstance(v, (dict, list))))
            if isinstance(item, dict)
            else f"{pad}- {item}"
            for item in result
        )
    return f"{pad}{result}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "json"):
        args.json = False
    if hasattr(args, "home"):
        os.environ["STUDIO_HOME"] = str(args.home)
    ctx = Context(args)
    try:
        result = args.func(args, ctx)
        emit(args, result)
        code = 0
        if isinstance(result, dict) and result.get("_exit") is not None:
            code = int(result["_exit"])
        return code
    except StudioError as e:
        print(f"studio: error: {e.message}" + (f" ({e.hint})" if e.hint else ""), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("studio: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `studio ... | head`: the reader left; that is not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as e:  # noqa: BLE001 - the one place that turns bugs into exit 1
        import traceback

        traceback.print_exc()
        print(f"studio: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        ctx.close()
