"""`studio export gguf ADAPTER [--merge --type f16|q8_0] [--wait]`, `studio models lineage NAME`,
`studio models pull REPO` (the only command that needs the network; offline it fails cleanly)."""

from __future__ import annotations

from studio.cli import action, command_group


def register(sub, groups) -> None:
    common = groups["common"]
    esub = command_group(sub, common, "export", "export adapters for llama.cpp and Ollama", metavar="FORMAT")
    p = action(esub, common, "gguf", cmd_export_gguf,
               help="a GGUF LoRA adapter (default) or, with --merge, the whole merged model, plus an Ollama Modelfile")
    p.add_argument("adapter", help="the adapter's name or id (see `studio models list --kind adapter`)")
    p.add_argument("--merge", action="store_true", help="merge the LoRA into the base and write the whole model")
    p.add_argument("--type", choices=["f16", "q8_0"], help="merged model type (with --merge; default f16)")
    p.add_argument("--base", help="the GGUF base model, for an adapter imported without one")
    p.add_argument("--wait", action="store_true", help="wait for the export job and print the registered export")

    p = action(groups["models"], common, "lineage", cmd_models_lineage,
               help="how a model was made: base, jobs, datasets")
    p.add_argument("name")

    p = action(groups["models"], common, "pull", cmd_models_pull,
               help="download a model from the Hugging Face Hub (online only)")
    p.add_argument("repo", help="owner/name on the Hub")
    p.add_argument("--name")


def cmd_export_gguf(args, ctx):
    from studio.cli.core import submit_and_maybe_wait
    from studio.errors import UserError
    from studio.models.exports import submit_export

    if args.type and not args.merge:
        raise UserError("--type applies to merged exports", hint="add --merge, or drop --type for a GGUF LoRA adapter")
    job_id = submit_export(ctx.studio, args.adapter, merge=args.merge, out_type=args.type, base_ref=args.base)
    result = submit_and_maybe_wait(ctx, args, job_id)
    if args.wait and result.get("state") == "succeeded":
        from studio.models.registry import model_to_dict

        result["export"] = model_to_dict(ctx.studio.registry.get(result["result"]["model"]))
    return result


def cmd_models_lineage(args, ctx):
    from studio.models.exports import describe_lineage, lineage

    chain = lineage(ctx.studio, args.name)
    return {"lineage": chain, "text": describe_lineage(chain)}


def cmd_models_pull(args, ctx):
    from studio.models.hub_pull import pull_model
    from studio.models.registry import model_to_dict

    return model_to_dict(pull_model(ctx.studio, args.repo, name=args.name))
