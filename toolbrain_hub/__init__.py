"""ToolBrain Hub: teach LLM agents to use tools with reinforcement learning, from schemas to a published agent."""

__version__ = "0.1.0"
