"""Training engines: one module per method, each a config dataclass and a function that trains.

    from engines.training.sft import SFTJobConfig, run_sft
    cfg = SFTJobConfig(base_model_path="models/gemma-hf", train_file="train.jsonl", max_steps=40)
    result = run_sft(cfg, emit=lambda type, **data: print(type, data), should_stop=lambda: False)

    python -m engines.training.dpo config.yaml      # any method by hand, or under accelerate launch

What is where:
    sft.py, reward.py, dpo.py, grpo.py   the methods: config, run_*, and run_job for the job child
    common.py              what every method shares: device, base + chat template, LoRA, saving
    preference_common.py   what reward, DPO and GRPO share beyond that
    rewards.py             GRPO's reward functions;  monitors.py: the reward-hacking monitors
    memory.py              will a run fit, and how long will it take (no torch)
    presets/               Quick / Balanced / Thorough, as YAML
No studio and no database here: the studio side of each method is in studio/training/.
"""
