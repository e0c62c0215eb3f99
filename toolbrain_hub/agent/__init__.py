"""The agent: its spec (`agent_spec.json`), prompt rendering shared with training, the smolagents runtime, and
`load_agent`.
"""

from __future__ import annotations

from .core import (
    PARSER_NAME,
    SPEC_FILE,
    TOOLS_FILE,
    AgentError,
    AgentSpec,
    AgentSpecError,
    SpecAgent,
    SpecModel,
    build_agent,
    load_agent,
    read_agent_spec,
    render_prompt_ids,
    training_chat_template,
)

__all__ = [
    "AgentError", "AgentSpec", "AgentSpecError", "PARSER_NAME", "SPEC_FILE", "SpecAgent", "SpecModel", "TOOLS_FILE",
    "build_agent", "load_agent", "read_agent_spec", "render_prompt_ids", "training_chat_template"
]
