"""The smolagents agent that runs an agent spec: `SpecModel`, `SpecAgent` and `build_agent`.

- `SpecModel` is a smolagents `Model` that renders with `agent.prompt.render_prompt_ids`, generates with a local
  transformers model, and reads the reply with `toolbrain_hub.traces.parse_tool_calls`.
- `build_agent` returns a smolagents `ToolCallingAgent` (`SpecAgent`) whose system prompt is the spec's (not
  smolagents' 2.3k-token default), whose memory is replayed to the model in the training format (raw assistant
  turns, one tool message per result), and whose tools run in the same `ToolEnvironment` used in training, so results
  and errors read the same.

Final answers: in training an episode ends when the model replies without a tool call; that reply is the answer.
`SpecModel` maps such a reply to smolagents' `final_answer` tool call, so `agent.run(...)` returns that text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from smolagents.agents import ToolCallingAgent, ToolOutput
from smolagents.memory import ActionStep, TaskStep
from smolagents.models import ChatMessage, ChatMessageToolCall, ChatMessageToolCallFunction, MessageRole, Model
from smolagents.monitoring import TokenUsage
from smolagents.utils import AgentGenerationError, AgentMaxStepsError

from ..environment.environment import ToolCallRecord, ToolEnvironment
from ..environment.factories import EnvironmentFactory, make_environment_factory
from ..stopping import Stopped, stopping_criteria
from ..stopping import check as check_stop
from ..traces.parsing import parse_tool_calls
from .prompt import render_prompt_ids
from .spec import AgentSpec, AgentSpecError

__all__ = ["SpecAgent", "SpecModel", "build_agent"]


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")


def _spec_messages(messages: list[Any]) -> list[dict]:
    """smolagents ChatMessages (or dicts) -> the template messages `render_prompt_ids` takes."""
    out = []
    for message in messages:
        if isinstance(message, dict):
            role, content, raw = message["role"], message.get("content"), message.get("raw")
        else:
            role, content, raw = message.role, message.content, message.raw
        role = getattr(role, "value", role)
        raw = raw if isinstance(raw, dict) else {}
        if role == "tool-call":
            continue  # smolagents' own summary of the calls; they are already in the assistant's text
        if role == "tool-response":
            role = "tool"
        item = {"role": role, "content": _text(content)}
        if role == "tool":
            item["name"] = raw.get("name") or (message.get("name") if isinstance(message, dict) else None) or "tool"
        if role == "assistant" and raw.get("completion_ids") is not None:
            item["completion_ids"] = list(raw["completion_ids"])
        if isinstance(message, dict) and message.get("completion_ids") is not None:
            item["completion_ids"] = list(message["completion_ids"])
        out.append(item)
    return out


class SpecModel(Model):
    """A smolagents Model that prompts a local transformers model exactly as in training.

    Rendering: `render_prompt_ids` with the spec's chat template, system prompt and tools (a top-k subset when the
    spec asks for retrieval). Generation: the spec's settings, up to the first end-of-turn token. Reading:
    `parse_tool_calls`; a reply without a tool call becomes a `final_answer` call holding its text. smolagents'
    stop sequences and `tools_to_call_from` are ignored: training used neither.

    Args:
        spec: The agent spec.
        model: A transformers causal LM (not needed with `generate_fn`).
        tokenizer: Its tokenizer.
        generate_fn: Replaces the model's generation: `generate_fn(prompt_ids) -> new token ids` (scripted runs,
            tests, or a custom backend).
    """

    def __init__(self, spec: AgentSpec, model: Any = None, tokenizer: Any = None, *, generate_fn=None):
        super().__init__(model_id=spec.base_model)
        if tokenizer is None:
            raise ValueError("SpecModel needs the model's tokenizer")
        if model is None and generate_fn is None:
            raise ValueError("SpecModel needs a model or a generate_fn")
        self.spec = spec
        self.model = model
        self.tokenizer = tokenizer
        self.generate_fn = generate_fn
        self.should_stop = None  # set by SpecAgent.run(should_stop=...): checked per turn and per token
        self.last_prompt_ids: list[int] = []
        self.last_completion_ids: list[int] = []
        self._calls_made = 0
        self._retriever = None
        eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        self.eos_token_ids = list(dict.fromkeys([tokenizer.eos_token_id, *eos]))

    def select_tools(self, task: str) -> list[dict]:
        """The tool schemas shown for a task: all of them, or with `spec.tool_top_k` the k most relevant, in the
        order TRL renders an environment's tools (by name)."""
        if self.spec.tool_top_k is None or self.spec.tool_top_k >= len(self.spec.tools):
            return self.spec.tools
        if self._retriever is None:
            from ..tools.retrieval import DEFAULT_EMBEDDER, ToolRetriever

            self._retriever = ToolRetriever(self.spec.tool_specs(), model=self.spec.retrieval_model or DEFAULT_EMBEDDER)
        names = {tool.name for tool in self._retriever.top_k(task, self.spec.tool_top_k)}
        return sorted((t for t in self.spec.tools if t["function"]["name"] in names),
                      key=lambda t: t["function"]["name"])

    def render(self, messages: list[Any]) -> list[int]:
        """The prompt ids for smolagents messages (or template dicts)."""
        conversation = _spec_messages(messages)
        task = next((m["content"] for m in conversation if m["role"] == "user"), "")
        return render_prompt_ids(self.spec, self.tokenizer, conversation, tools=self.select_tools(task))

    def _generate_ids(self, prompt_ids: list[int]) -> list[int]:
        if self.generate_fn is not None:
            new = list(self.generate_fn(list(prompt_ids)))
        else:
            import torch

            sampling = ({"do_sample": True, "temperature": self.spec.temperature, "top_p": self.spec.top_p}
                        if self.spec.temperature > 0 else
                        {"do_sample": False, "temperature": None, "top_p": None, "top_k": None})
            device = getattr(self.model, "device", "cpu")
            input_ids = torch.tensor([prompt_ids], device=device)
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_token_ids[0]
            with torch.inference_mode():
                out = self.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                          max_new_tokens=self.spec.max_new_tokens, eos_token_id=self.eos_token_ids,
                                          pad_token_id=pad, stopping_criteria=stopping_criteria(self.should_stop),
                                          **sampling)
            new = out[0, len(prompt_ids):].tolist()
        end = next((k for k, token in enumerate(new) if token in self.eos_token_ids), None)
        return new if end is None else new[: end + 1]  # a turn ends at its end-of-turn token, kept as in TRL

    def generate(self, messages, stop_sequences=None, response_format=None, tools_to_call_from=None, **kwargs):
        stopped = "the answer was stopped before it was complete"
        check_stop(self.should_stop, stopped)
        prompt_ids = self.render(messages)
        completion_ids = self._generate_ids(prompt_ids)
        check_stop(self.should_stop, stopped)  # a reply cut short by the stop is no reply
        self.last_prompt_ids, self.last_completion_ids = prompt_ids, completion_ids
        body = completion_ids[:-1] if completion_ids and completion_ids[-1] in self.eos_token_ids else completion_ids
        text = self.tokenizer.decode(body, skip_special_tokens=True)
        parsed = parse_tool_calls(text)
        calls = [(call.name, call.arguments) for call in parsed.calls]
        if not calls:
            calls = [("final_answer", {"answer": text.strip()})]
        tool_calls = []
        for name, arguments in calls:
            self._calls_made += 1
            tool_calls.append(ChatMessageToolCall(
                function=ChatMessageToolCallFunction(name=name, arguments=arguments),
                id=f"call_{self._calls_made:06d}", type="function"))
        return ChatMessage(role=MessageRole.ASSISTANT, content=text, tool_calls=tool_calls,
                           raw={"completion_ids": completion_ids, "parsed": parsed.to_dict()},
                           token_usage=TokenUsage(input_tokens=len(prompt_ids), output_tokens=len(completion_ids)))


class SpecAgent(ToolCallingAgent):
    """A smolagents ToolCallingAgent that talks to its model exactly as the model was trained.

    - The system prompt is the spec's (smolagents' default prompt templates are not used).
    - Memory is replayed in the training format: the raw assistant turns (with their generated ids) and one tool
      message per call holding the environment's result text.
    - Tools run in a ToolEnvironment, without smolagents' own argument checks or state substitution: invalid
      arguments, unknown tools and exceptions come back as the same `{"error": ...}` text as in training.
    - Calls run one after another in the order the model wrote them, as in TRL.
    - Hitting `max_turns` ends the run without an answer (None), as an episode ends in training; an empty reply
      ends it with the answer "". `no_answer_reason(answer)` says which happened.

    Args:
        spec: The agent spec.
        model: A SpecModel for this spec.
        environment: The ToolEnvironment running the tools (`env.calls` records them).
        **kwargs: Passed to `ToolCallingAgent` (e.g. `verbosity_level`).
    """

    def __init__(self, spec: AgentSpec, model: SpecModel, environment: ToolEnvironment, **kwargs):
        missing = [name for name in spec.tool_names if name not in environment.tool_names]
        if missing:
            raise AgentSpecError(f"the tools {missing} of the agent spec have no implementation in the environment "
                                 f"(it has {list(environment.tool_names)})")
        self.spec = spec
        self.environment = environment
        self._active_tools: set[str] = set(spec.tool_names)
        specs = {s.name: s for s in environment.tool_specs}
        tools = [specs[name].to_smolagents_tool(function=self._dispatcher(name)) for name in spec.tool_names]
        kwargs.setdefault("max_steps", spec.max_turns)
        kwargs.setdefault("max_tool_threads", 1)
        super().__init__(tools=tools, model=model, **kwargs)

    def _dispatcher(self, name: str):
        def call(**arguments):
            return self.environment(name, arguments)

        return call

    def initialize_system_prompt(self) -> str:
        return self.spec.system_prompt or ""

    def run(self, task: str, *args, reset: bool = True, should_stop: Callable[[], bool] | None = None, **kwargs):
        """Answer `task` (smolagents' `run`; extra arguments go to it).

        Args:
            task: The request.
            reset: Start from an empty memory and a fresh environment.
            should_stop: Checked before every model turn and between generated tokens; once it returns True the run
                ends with `stopping.Stopped`.
        """
        if reset:
            self.environment.reset(query=task, prompt=self.spec.initial_messages(task))
            self._active_tools = {t["function"]["name"] for t in self.model.select_tools(task)} \
                if isinstance(self.model, SpecModel) else set(self.spec.tool_names)
        if kwargs.get("stream"):  # a generator: the caller drives it step by step
            return super().run(task, *args, reset=reset, **kwargs)
        model = self.model if isinstance(self.model, SpecModel) else None
        if model is not None:
            model.should_stop = should_stop
        try:
            return super().run(task, *args, reset=reset, **kwargs)
        except AgentGenerationError as e:
            if isinstance(e.__cause__, Stopped):  # smolagents wraps whatever the model raised
                raise e.__cause__ from None
            raise
        finally:
            if model is not None:
                model.should_stop = None

    def no_answer_reason(self, answer: Any) -> str | None:
        """Why the last `run` returned no answer (None when `answer` is one): the model's reply was empty, or the
        turn limit was reached with the model still calling tools.

        Args:
            answer: What `run` returned.
        """
        if answer is not None and answer != "":
            return None
        steps = [step for step in self.memory.steps if isinstance(step, ActionStep)]
        turns = sum(1 for step in steps if step.model_output_message is not None)
        if answer == "":
            return "the model returned an empty reply"
        if any(isinstance(step.error, AgentMaxStepsError) for step in steps):
            return f"no final answer within {self.spec.max_turns} model turns: the model kept calling tools"
        return f"the model gave no answer (after {turns} model turn{'s' if turns != 1 else ''})"

    def write_memory_to_messages(self, summary_mode: bool = False):
        messages = []
        if self.spec.system_prompt is not None:
            messages.append(ChatMessage(role=MessageRole.SYSTEM,
                                        content=[{"type": "text", "text": self.spec.system_prompt}]))
        for step in self.memory.steps:
            if isinstance(step, TaskStep):
                messages.append(ChatMessage(role=MessageRole.USER, content=[{"type": "text", "text": step.task}]))
            elif isinstance(step, ActionStep):
                output = step.model_output_message
                if output is not None:
                    messages.append(ChatMessage(role=MessageRole.ASSISTANT, content=output.content, raw=output.raw))
                results = getattr(step, "_toolbrain_results", [])
                for name, call_id, observation in results:
                    if name != "final_answer":
                        messages.append(ChatMessage(role=MessageRole.TOOL_RESPONSE,
                                                    content=[{"type": "text", "text": observation}],
                                                    raw={"name": name, "tool_call_id": call_id}))
                if step.error is not None and output is not None and not results:
                    error = json.dumps({"error": str(step.error)}, ensure_ascii=False)
                    messages.append(ChatMessage(role=MessageRole.TOOL_RESPONSE,
                                                content=[{"type": "text", "text": error}], raw={"name": "error"}))
        return messages

    def process_tool_calls(self, chat_message, memory_step):
        outputs = {}
        for output in super().process_tool_calls(chat_message, memory_step):
            if isinstance(output, ToolOutput):
                outputs[output.id] = output
            yield output
        # One result per call, in the order the model wrote them (smolagents' memory only keeps them joined).
        memory_step._toolbrain_results = [(call.function.name, call.id, outputs[call.id].observation)
                                          for call in chat_message.tool_calls if call.id in outputs]

    def execute_tool_call(self, tool_name: str, arguments: Any) -> Any:
        if tool_name == "final_answer":
            return super().execute_tool_call(tool_name, arguments)
        if tool_name not in self._active_tools:
            # Not shown to the model for this task (retrieval): in training TRL answers such calls itself.
            error = f"Tool {tool_name} not found."
            text = str({"error": error})
            self.environment.calls.append(ToolCallRecord(name=tool_name, arguments=arguments, result=text,
                                                         error=error))
            return text
        return self.environment(tool_name, arguments)

    def provide_final_answer(self, task: str):
        # Training never asks for a forced answer after the last turn: the episode just ends unanswered.
        return ChatMessage(role=MessageRole.ASSISTANT, content=None)


def build_agent(spec: AgentSpec, model: Any = None, tokenizer: Any = None, tools: Any = None, *,
                generate_fn=None, **agent_kwargs) -> SpecAgent:
    """A smolagents ToolCallingAgent that runs `spec` with a local model and real tools.

    Args:
        spec: The agent spec (e.g. `AgentSpec.load(run_dir)`).
        model: A transformers causal LM, or a ready SpecModel (then `tokenizer` may be omitted).
        tokenizer: The model's tokenizer.
        tools: The implementations: a ToolEnvironment, an EnvironmentFactory, a dict `{name: callable}`, or a list of
            functions / smolagents Tools (named as in the spec). Calls are validated against the spec's schemas.
        generate_fn: Scripted generation instead of the model (see SpecModel).
        **agent_kwargs: Passed to the agent (`verbosity_level`, `max_steps`...).

    Raises:
        AgentSpecError: no tools given, or tools missing for some of the spec's tools.
    """
    if isinstance(model, SpecModel):
        spec_model = model
    else:
        spec_model = SpecModel(spec, model, tokenizer, generate_fn=generate_fn)
    if isinstance(tools, ToolEnvironment):
        environment = tools
    elif isinstance(tools, EnvironmentFactory):
        environment = tools()
    elif tools is None:
        raise AgentSpecError(f"pass tools= with implementations for {spec.tool_names} (a dict name -> callable, a "
                             "list of functions or smolagents Tools, or a ToolEnvironment)")
    else:
        implementations = _named_implementations(tools)
        missing = [name for name in spec.tool_names if name not in implementations]
        if missing:
            raise AgentSpecError(f"no implementation for the spec's tools {missing}")
        specs = [s for s in spec.tool_specs() if s.name in implementations]
        implementations = {s.name: implementations[s.name] for s in specs}
        environment = make_environment_factory(specs, implementations=implementations)()
    return SpecAgent(spec, spec_model, environment, **agent_kwargs)


def _named_implementations(tools: Any) -> dict[str, Any]:
    """`{tool name: implementation}` from a dict, or from a list of functions / smolagents Tools (named by `.name`,
    else `__name__`)."""
    if isinstance(tools, dict):
        items = list(tools.items())
    else:
        if callable(tools) or isinstance(tools, (str, bytes)):
            tools = [tools]
        try:
            tools = list(tools)
        except TypeError:
            raise AgentSpecError(f"tools= must be a dict name -> callable or a list of functions / smolagents Tools, "
                                 f"got {type(tools).__name__}") from None
        items = []
        for i, tool in enumerate(tools):
            name = getattr(tool, "name", None) if isinstance(getattr(tool, "name", None), str) else None
            name = name or getattr(tool, "__name__", None)
            if not callable(tool) or not isinstance(name, str):
                raise AgentSpecError(f"tools[{i}] ({type(tool).__name__}) is not a named function or smolagents Tool: "
                                     "pass a dict {tool name: callable} to name it")
            items.append((name, tool))
    for name, tool in items:
        if not callable(tool):
            raise AgentSpecError(f"tools[{name!r}] is a {type(tool).__name__}, not a callable")
    return dict(items)
