"""The rehearsal hub: tiny stand-ins under the real hub ids, in the real formats, offline.

``tide rehearsal-hub --out DIR [--config config/paper.yaml]`` writes a Hugging Face cache
(``DIR/hub/models--org--name/snapshots/<sha>/``, ``refs/main``; datasets likewise) to be used
as ``HF_HOME=DIR``, never the user's own cache. Each repository is at the revision the
config pins (``revisions:``), or at a deterministic stand-in sha when the config leaves it
unpinned; every stand-in is marked (``tide_rehearsal_standin`` in config.json, or a
``TIDE_REHEARSAL_STANDIN`` file), and a run refuses it unless ``TIDE_REHEARSAL=1``
(tide/hubcache.py). ``DIR/PROVENANCE.md`` lists each reproduced fact and its public source.

What is reproduced, and where each fact comes from ([R] model card / README, [C] the
authors' code PKU-YuanGroup/TIDE or ZHZisZZ/dllm, [S] our spec files, [P] a commit pinned for
the same id in other public code, [I] inferred: not verifiable offline, chosen to be
consistent with the rest):
"""

PROVENANCE = [
    ("student dllm-hub/Qwen3-0.6B-diffusion-bd3lm-v0.1", "model_type a2d-qwen3, Qwen3 weights, "
     "architectures A2DQwen3LMHeadModel", "[C] dllm pipelines/a2d/models/qwen3/modeling_qwen3.py "
     "(class names, model type), pipelines/a2d/convert.py (config copied from Qwen3)"),
    ("student", "no mask_token_id and no block_size in config.json",
     "[S] issue 10 item 2 / student_and_eval.md §1 (the released config has none)"),
    ("student", "auto_map + modelling file in the repository directory",
     "[S] issue 10; file name modeling_qwen3.py and auto_map keys [I]"),
    ("student", "<|mask|> = 151669, 151936 embedding rows, eos <|im_end|> 151645, "
     "pad <|endoftext|> 151643", "[S] student_and_eval.md §1, §5; Qwen3 tokenizer_config.json "
     "added_tokens_decoder (ids 151643-151668) [R]"),
    ("Qwen/Qwen3-0.6B", "native qwen3, tied embeddings, chat template with enable_thinking",
     "[R] Qwen3-0.6B model card / config.json"),
    ("tencent/WeDLM-8B-Instruct", "mask id 151665, ids < 151646 shared with Qwen3, own chat "
     "template (no think block)", "[S] method.md §1.4, §3; [C] TIDE distill_wedlm.py defaults "
     "(teacher_mask_token_id 151665, shared 151646); architecture qwen3-native and the "
     "special-token strings above 151645 [I]"),
    ("inclusionAI/LLaDA2.0-mini", "model_type llada2_moe, auto_map to "
     "configuration_llada2_moe / modeling_llada2_moe, MoE (gate + expert_bias, experts, "
     "shared experts, first dense layers), fused query_key_value, q/k layernorm, partial "
     "rotary", "[C] TIDE dllm/pipelines/llada2/models/{configuration,modeling}_llada2_moe.py "
     "(parameter names and shapes)"),
    ("inclusionAI/LLaDA2.0-mini", "remote code imports is_torch_fx_available and "
     "ROPE_INIT_FUNCTIONS['default'] (fails under transformers 5)",
     "[C] the vendored modeling_llada2_moe.py imports; [S] issue 10 item 1"),
    ("inclusionAI/LLaDA2.0-mini", "mask id 156895, own tokenizer, <role>…</role>…<|role_end|> "
     "chat template", "[S] method.md §1.4; [C] TIDE distill.py teacher_mask_token_id; "
     "embedding rows 157184 and the other special ids [I]"),
    ("TIDE-dllm/distill_llada2_sft, distill_wedlm_sft", "columns input_ids, labels, "
     "teacher_input_ids, teacher_labels, ranges, prompt_len (A); input_ids, labels, "
     "teacher_input_ids, align_student, align_teacher, prompt_len (B); splits train/test",
     "[C] TIDE dllm/core/trainers/distill_collator.py and examples/a2d/bd3lm/"
     "preprocess_distill*_data.py; parquet data/ layout and the test split [I]"),
    ("TIDE-dllm/distill-* (released students)", "same format as the BD3LM student",
     "[S] models.md (AutoModelForMaskedLM + trust_remote_code); config details [I]"),
    ("evaluation datasets", "ids, config names, splits and columns as tide/eval/tasks/*.yaml "
     "request them; parquet per config with a configs: card",
     "[C] lm-eval task YAMLs (dataset_path/name/split); hub parquet layout convention [R]"),
    ("cais/mmlu", "config all, split test, columns question/subject/choices/answer; "
     "revision c30699e8356da336a370243923dbaf21066bb9fe", "[C] lm-eval tasks/mmlu (cais/mmlu); "
     "the revision is the one pinned by huggingface/lighteval's MMLU tasks"),
    ("Qwen/Qwen3-0.6B, openai/gsm8k, EleutherAI/hendrycks_math, TIGER-Lab/MMLU-Pro, "
     "openai/openai_humaneval", "revisions as config/paper.yaml pins them",
     "[P] commits found pinned for the same ids in public code (code search, 2026-12-01; "
     "lighteval-style task configs, marin task recipes, evaluation harnesses), not verified "
     "against the hub; Rowan/hellaswag left unpinned: the commit those configs pin is a "
     "loading-script revision"),
]
