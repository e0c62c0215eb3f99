"""The environment an agent acts in: tool backends (Python, MCP, schema-only, simulator; `environment.backends`),
per-episode environments (`environment.environment`) and their factories for TRL (`environment.factories`), and
multi-turn rollouts (`environment.rollouts`).
"""

from __future__ import annotations

from .backends import (
    MCPTools,
    PythonTools,
    SimulatedTools,
    ToolBackend,
    ToolCallError,
    ToolEnvironmentError,
    row_query,
)
from .environment import ToolCallRecord, ToolEnvironment, environment_class
from .factories import EnvironmentFactory, episode_overhead, make_environment_factory, make_routed_environments

__all__ = [
    "EnvironmentFactory", "MCPTools", "PythonTools", "SimulatedTools", "ToolBackend", "ToolCallError",
    "ToolCallRecord", "ToolEnvironment", "ToolEnvironmentError", "environment_class", "episode_overhead",
    "make_environment_factory", "make_routed_environments", "row_query"
]
