"""The environment an agent acts in: tool backends (Python, MCP, schema-only, simulator), per-episode environments for
TRL, and multi-turn rollouts.
"""

from __future__ import annotations

from .environment import (
    EnvironmentFactory,
    MCPTools,
    PythonTools,
    SimulatedTools,
    ToolBackend,
    ToolCallError,
    ToolCallRecord,
    ToolEnvironment,
    ToolEnvironmentError,
    environment_class,
    episode_overhead,
    make_environment_factory,
    make_routed_environments,
    row_query,
)

__all__ = [
    "EnvironmentFactory", "MCPTools", "PythonTools", "SimulatedTools", "ToolBackend", "ToolCallError",
    "ToolCallRecord", "ToolEnvironment", "ToolEnvironmentError", "environment_class", "episode_overhead",
    "make_environment_factory", "make_routed_environments", "row_query"
]
