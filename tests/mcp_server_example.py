"""A tiny MCP server for the tests: two tools and one that always fails.

Run it over stdio (`python tests/mcp_server_example.py`) or streamable HTTP
(`python tests/mcp_server_example.py --http PORT`). Built on the real `mcp` SDK's `MCPServer`, so the environment's MCP
client talks to it exactly as to any other server.
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("toolbrain-test-server")

_FORECASTS = {"paris": "sunny, 21 C", "london": "rain, 14 C", "tokyo": "cloudy, 18 C"}


@server.tool()
def get_weather(city: str, unit: str = "celsius") -> str:
    """Current weather for a city.

    Args:
        city: City name, e.g. Paris.
        unit: Temperature unit, celsius or fahrenheit.
    """
    forecast = _FORECASTS.get(city.strip().lower())
    if forecast is None:
        raise ToolError(f"unknown city: {city}")
    return f"{city}: {forecast}" + (" (unit: fahrenheit not supported, shown in celsius)" if unit != "celsius" else "")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: First number.
        b: Second number.
    """
    return a + b


@server.tool()
def broken(reason: str) -> str:
    """A tool whose backend is down: every call fails.

    Args:
        reason: Anything.
    """
    raise ToolError(f"backend unavailable ({reason})")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
