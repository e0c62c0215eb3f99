"""Try it tab: load a published agent (a Hub repo or a local folder) with `load_agent` and chat with it; every tool
call is shown with its arguments and result. The app runs no tool code: tools answer schema-only (the call is
validated and recorded, and the result says that no implementation is attached), so what you see is exactly what
the model decided to call."""

from __future__ import annotations

import json
import threading

import gradio as gr

from . import runs, stops

_lock = threading.Lock()
_loaded: dict[tuple[str | None, str], object] = {}  # one agent at a time: a 0.5B model takes ~4 GB of RAM


def _agent(source: str, user):
    """Load the agent once per (user, source); only the most recent one is kept."""
    from toolbrain_hub.agent import load_agent

    key = (user.name, source)
    with _lock:
        if key not in _loaded:
            runs.check_readable(source, user)
            rules = runs.policy(user)
            if rules is not None:  # the spec names the base model to load: on a Space it must be an allowed one
                from toolbrain_hub.agent import read_agent_spec

                rules.check_model("the agent's base model", read_agent_spec(source, token=user.token).base_model)
            _loaded.clear()
            _loaded[key] = load_agent(source, token=user.token, device="cpu", verbosity_level=0)
        return _loaded[key]


def load(source: str, profile: gr.OAuthProfile | None = None, oauth_token: gr.OAuthToken | None = None,
         progress=gr.Progress(track_tqdm=True)):
    """Load the agent; returns (status markdown, a cleared chat)."""
    source = (source or "").strip()
    if not source:
        return "Give a published agent: a Hub repo id (user/name) or a local folder.", []
    user = runs.current_user(profile, oauth_token)
    try:
        agent = _agent(source, user)
    except Exception as e:  # noqa: BLE001 - AgentError/HubError say what is wrong
        return f"**Cannot load the agent:** {e}", []
    spec = agent.spec
    tools = ", ".join(f"`{name}`" for name in spec.tool_names)
    return (f"Loaded `{source}`: base model `{spec.base_model}`, tools {tools}, up to {spec.max_turns} model turns "
            "per question. Tools answer schema-only here (no tool code runs in this app)."), []


def _call_messages(call) -> list[dict]:
    arguments = json.dumps(call.arguments, ensure_ascii=False) if not isinstance(call.arguments, str) \
        else call.arguments
    # The title stays visible when the message is collapsed: it names the call with its arguments.
    return [{"role": "assistant", "content": f"`{call.name}({arguments})`\n\nResult: {call.result}",
             "metadata": {"title": f"Tool call: {call.name}({_short(arguments)})", "status": "done"}}]


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def ask(source: str, question: str, history: list | None, profile: gr.OAuthProfile | None = None,
        oauth_token: gr.OAuthToken | None = None, request: gr.Request = None):
    """Run one question through the agent (the Stop button ends it); returns (chat with the tool calls and the
    answer, the question box)."""
    from toolbrain_hub.stopping import Stopped

    history = list(history or [])
    question = (question or "").strip()
    if not question:
        return history, ""
    source = (source or "").strip()
    if not source:  # the question stays in its box, to send once an agent is loaded
        history.append({"role": "assistant", "content": "**Load an agent first:** give a Hub repo id (user/name) "
                                                        "or a folder above and press **Load**."})
        return history, question
    user = runs.current_user(profile, oauth_token)
    history.append({"role": "user", "content": question})
    try:
        agent = _agent(source, user)
        with stops.job(request, "try") as stop:
            answer = agent.run(question, should_stop=stop.is_set)
    except Stopped as e:
        history.append({"role": "assistant", "content": f"**Stopped:** {e}."})
        return history, ""
    except Exception as e:  # noqa: BLE001 - shown in the chat instead of a traceback
        history.append({"role": "assistant", "content": f"**Error:** {type(e).__name__}: {e}"})
        return history, ""
    for call in agent.environment.calls:
        history += _call_messages(call)
    reason = agent.no_answer_reason(answer)
    history.append({"role": "assistant", "content": f"({reason})" if reason else str(answer)})
    return history, ""


def build(agent_location: gr.Textbox) -> None:
    """Add the Try it tab; it follows the agent published in the Publish tab."""
    with gr.Tab("6. Try it", id="try"):
        gr.Markdown("Chat with a published agent, prompted exactly as it was trained. Load it from the Hub "
                    "(`user/name`) or from a local folder.")
        with gr.Row():
            source = gr.Textbox("", label="Agent (Hub repo id or folder)", elem_id="try-source", scale=4)
            load_btn = gr.Button("Load", variant="primary", elem_id="try-load", scale=1)
        status = gr.Markdown(elem_id="try-status")
        chat = gr.Chatbot(label="Conversation", height=420, elem_id="try-chat")
        with gr.Row():
            question = gr.Textbox("", label="Question", placeholder="What is the weather in Paris?",
                                  elem_id="try-question", scale=4)
            send = gr.Button("Send", variant="primary", elem_id="try-send", scale=1)
            stops.stop_button("try", elem_id="try-stop", scale=1)

        agent_location.change(lambda value: value, [agent_location], [source])
        load_btn.click(load, [source], [status, chat], api_name="try_load", concurrency_limit=1,
                       concurrency_id="model")
        gr.on([send.click, question.submit], ask, [source, question, chat], [chat, question], api_name="try_ask",
              concurrency_limit=1, concurrency_id="model")
