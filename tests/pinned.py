"""The pinned model the flow tests drive: a tiny Qwen2 whose greedy replies are fixed by construction
(`toolbrain_hub.models.tiny.build_pinned_model`). It first calls get_weather for Paris with the tagged call, and after a
tool
result answers ANSWER, on any CPU and after a short LoRA fine-tune, so tests of load_agent, the chat CLI and the app
can assert on what the agent says. What the tiny random model writes after training in-test cannot be asserted on:
its logits span under 2 units (tied embeddings of std 0.02 behind a norm that LoRA does not touch), so its greedy
text flips with the last bits of the arithmetic and with any change of the prompt.

The session fixtures `pinned_model_dir` (the folder) and `pinned_model_repo` (the same model pushed to the Hub test
server, as a user's base model) are in conftest.py."""

from __future__ import annotations

import json

REPO = "alice/tiny-pinned-qwen2"
CALL = {"name": "get_weather", "arguments": {"city": "Paris"}}
FIRST_REPLY = f"<tool_call>\n{json.dumps(CALL)}\n</tool_call>"
ANSWER = "It is sunny in Paris."
