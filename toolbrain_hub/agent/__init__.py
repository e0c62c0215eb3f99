"""The agent: its spec (`agent.spec`: `agent_spec.json`), prompt rendering shared with training (`agent.prompt`), the
smolagents runtime (`agent.runtime`), and `load_agent` (`agent.loading`).
"""

from __future__ import annotations

from .loading import load_agent, read_agent_spec
from .prompt import render_prompt_ids
from .runtime import SpecAgent, SpecModel, build_agent
from .spec import (
    PARSER_NAME,
    SPEC_FILE,
    TOOLS_FILE,
    AgentError,
    AgentSpec,
    AgentSpecError,
    training_chat_template,
)

__all__ = [
    "AgentError", "AgentSpec", "AgentSpecError", "PARSER_NAME", "SPEC_FILE", "SpecAgent", "SpecModel", "TOOLS_FILE",
    "build_agent", "load_agent", "read_agent_spec", "render_prompt_ids", "training_chat_template"
]
