"""Train what you deploy: the agent spec, the TRL-equal rendering, and the smolagents agent that runs it.

The key test renders scripted episodes twice, with real components on both sides: the training way (a real TRL
GRPOTrainer step with `environment_factory`, only the model's sampling replaced by the script) and the inference way
(a real smolagents agent run through `build_agent`, the same script standing in for generation), and checks that the
model saw identical token ids. Both show the model each tool's JSON schema whole: nothing a call is validated against is
hidden from the prompt, and agents trained before that keep the prompt they were trained with.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from toolbrain_hub.agent import SPEC_FILE, AgentSpec, AgentSpecError, SpecModel, build_agent, render_prompt_ids
from toolbrain_hub.environment import make_environment_factory, make_routed_environments
from toolbrain_hub.tools import load_tools

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
DATA = Path(__file__).parent / "data"
QUIET = -1  # smolagents LogLevel.OFF
SYSTEM = "You answer questions about the weather and money. Call a tool when you need data."


def get_weather(city: str) -> dict:
    """Current weather for a city.

    Args:
        city: City name, e.g. Paris.
    """
    if city == "Atlantis":
        raise LookupError("no weather station in Atlantis")
    return {"city": city, "forecast": "sunny", "celsius": 21}


def convert(amount: float, currency: str) -> str:
    """Convert euros to another currency.

    Args:
        amount: Amount in euros.
        currency: Target currency code, e.g. USD.
    """
    return f"{amount * 1.1:.2f} {currency}"


IMPLEMENTATIONS = {"get_weather": get_weather, "convert": convert}


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _spec(tokenizer, tiny_model_dir, **kwargs) -> AgentSpec:
    factory = make_environment_factory(implementations=IMPLEMENTATIONS)
    return AgentSpec.for_training(str(tiny_model_dir), tokenizer, factory, system_prompt=SYSTEM, **kwargs)


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False) + [tokenizer.eos_token_id]


def _call_text(*calls) -> str:
    return "\n".join(f"<tool_call>\n{json.dumps({'name': n, 'arguments': a})}\n</tool_call>" for n, a in calls)


def _scripted(turns):
    """A generation function that plays back the given turns (lists of token ids), one per call."""
    remaining = list(turns)

    def generate(prompt_ids):
        return list(remaining.pop(0))

    return generate


def _training_episode(tiny_model_dir, tmp_path, tokenizer, spec, task, turns, factory=None):
    """The ids TRL's GRPO trains on for one rollout of `task` when the policy writes `turns`, and its environment.

    The trainer gets a fresh tokenizer from the model folder, prepared as `training.grpo.build_trainer` prepares it."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from toolbrain_hub.training.grpo import prepare_tokenizer

    factory = factory or make_environment_factory(implementations=IMPLEMENTATIONS)
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(tiny_model_dir))
    args = GRPOConfig(output_dir=str(tmp_path / "grpo"), use_cpu=True, bf16=False, per_device_train_batch_size=2,
                      num_generations=2, max_steps=1, max_completion_length=512, report_to=[], save_strategy="no",
                      max_tool_calling_iterations=spec.max_tool_calling_iterations,
                      chat_template_kwargs=spec.chat_template_kwargs)
    dataset = Dataset.from_list([{"prompt": spec.initial_messages(task), "query": task}] * 2)
    trainer = GRPOTrainer(model=str(tiny_model_dir), reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
                          args=args, train_dataset=dataset, environment_factory=factory, processing_class=tokenizer)
    remaining = list(turns)

    def scripted_generation(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        ids = remaining.pop(0)  # every rollout of the group writes the same turn
        return [list(ids) for _ in prompt_ids], None

    trainer._generate_single_turn = scripted_generation
    generate = trainer._generate
    captured = {}

    def capture(prompts):
        captured["out"] = generate(prompts)
        return captured["out"]

    trainer._generate = capture
    trainer.train()
    assert trainer.state.global_step == 1 and not remaining
    prompt_ids, completion_ids = captured["out"][0][0], captured["out"][1][0]
    return list(prompt_ids) + list(completion_ids), trainer.environments[0]


def _episodes(tokenizer):
    weather = _call_text(("get_weather", {"city": "Paris"}))
    parallel = _call_text(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Atlantis"}))
    bad_convert = "Let me convert that.\n" + _call_text(("convert", {"amount": "ten", "currency": "USD"}))
    # Non-canonical ids: every JSON character a token of its own, as a sampled policy may produce. Re-tokenizing the
    # text would change them; training keeps them, so inference must too.
    char_ids = (tokenizer.encode("<tool_call>\n", add_special_tokens=False)
                + [i for ch in json.dumps({"name": "convert", "arguments": {"amount": 10, "currency": "USD"}})
                   for i in tokenizer.encode(ch, add_special_tokens=False)]
                + tokenizer.encode("\n</tool_call>", add_special_tokens=False) + [tokenizer.eos_token_id])
    return {
        "one_call": ("What is the weather in Paris?", [_ids(tokenizer, weather), _ids(tokenizer, "Sunny, 21 C.")]),
        "parallel_calls_and_errors": ("Weather in Paris and Atlantis, and 10 euros in dollars?", [
            _ids(tokenizer, parallel), _ids(tokenizer, bad_convert), _ids(tokenizer, "Paris is sunny.")]),
        "non_canonical_tokens": ("10 euros in dollars?", [char_ids, _ids(tokenizer, "11.00 USD")]),
    }


@pytest.mark.parametrize("episode", ["one_call", "parallel_calls_and_errors", "non_canonical_tokens"])
def test_training_and_inference_render_identical_token_ids(tiny_model_dir, tmp_path, tokenizer, episode):
    task, turns = _episodes(tokenizer)[episode]
    spec = _spec(tokenizer, tiny_model_dir, max_turns=len(turns))
    train_ids, train_env = _training_episode(tiny_model_dir, tmp_path, tokenizer, spec, task, turns)

    # Inference: the spec goes through its file, as a published agent's would.
    spec.save(tmp_path / "agent")
    loaded = AgentSpec.load(tmp_path / "agent")
    seen = []
    generate = _scripted(turns)

    def generate_and_record(prompt_ids):
        seen.append(prompt_ids)
        return generate(prompt_ids)

    agent = build_agent(loaded, tokenizer=tokenizer, tools=IMPLEMENTATIONS, generate_fn=generate_and_record,
                        verbosity_level=QUIET)
    result = agent.run(task, return_full_result=True)
    inference_ids = agent.model.last_prompt_ids + agent.model.last_completion_ids

    assert inference_ids == train_ids, (tokenizer.decode(train_ids), tokenizer.decode(inference_ids))
    assert len(seen) == len(turns)
    assert result.state == "success" and result.output == tokenizer.decode(turns[-1][:-1])
    # Both sides ran the same calls with the same results and errors.
    assert [(c.name, c.arguments, c.result, c.error) for c in agent.environment.calls] == \
           [(c.name, c.arguments, c.result, c.error) for c in train_env.calls]
    if episode == "parallel_calls_and_errors":
        assert [c.ok for c in train_env.calls] == [True, False, False]
    if episode == "non_canonical_tokens":
        assert tokenizer.encode(tokenizer.decode(turns[0]), add_special_tokens=False) != turns[0]


@pytest.fixture(scope="module")
def real_tokenizer_model_dir(default_model_dir, tmp_path_factory):
    """The default model's real tokenizer and chat template on a tiny random Qwen2 with the same vocabulary: real
    tokenization boundaries, in seconds (the weights play no part in rendering)."""
    import torch
    from transformers import AutoTokenizer, GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(default_model_dir)
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    out = tmp_path_factory.mktemp("real-tokenizer")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.mark.default_model
@pytest.mark.parametrize("episode", ["one_call", "parallel_calls_and_errors"])
def test_token_identity_with_the_default_models_tokenizer(real_tokenizer_model_dir, tmp_path, episode):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(real_tokenizer_model_dir)
    task, turns = _episodes(tokenizer)[episode]
    spec = _spec(tokenizer, real_tokenizer_model_dir, max_turns=len(turns))
    train_ids, _ = _training_episode(real_tokenizer_model_dir, tmp_path, tokenizer, spec, task, turns)
    agent = build_agent(spec, tokenizer=tokenizer, tools=IMPLEMENTATIONS, generate_fn=_scripted(turns),
                        verbosity_level=QUIET)
    agent.run(task)
    assert agent.model.last_prompt_ids + agent.model.last_completion_ids == train_ids


def test_spec_round_trip_and_contents(tiny_model_dir, tmp_path, tokenizer):
    spec = _spec(tokenizer, tiny_model_dir, max_turns=3, max_new_tokens=64, temperature=0.7, top_p=0.9,
                 revision="abc123")
    path = spec.save(tmp_path / "run")
    assert path.name == SPEC_FILE
    data = json.loads(path.read_text())
    assert data["parser"] == "toolbrain-json" and data["base_model_revision"] == "abc123"
    assert data["chat_template"] == tokenizer.chat_template  # Qwen2.5's template is prefix-preserving: used as is
    assert AgentSpec.load(tmp_path / "run") == spec == AgentSpec.load(path)
    assert AgentSpec.from_dict(spec.to_dict()) == spec
    # specs written before the base model's provenance was recorded still load
    older = {k: v for k, v in spec.to_dict().items() if k != "base_model_source"}
    assert AgentSpec.from_dict(older) == spec and spec.base_model_source is None
    recorded = AgentSpec.from_dict({**older, "base_model_source": {"kind": "folder", "fingerprint": "sha256:1"}})
    assert AgentSpec.from_dict(recorded.to_dict()).base_model_source == {"kind": "folder", "fingerprint": "sha256:1"}
    assert spec.tool_names == ["convert", "get_weather"]  # TRL's order
    assert spec.max_tool_calling_iterations == 2
    assert [s.name for s in spec.tool_specs()] == ["convert", "get_weather"]
    assert spec.initial_messages("hi") == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "hi"}]


def test_spec_keeps_full_schemas_for_validation(tiny_model_dir, tokenizer):
    schema = {"name": "search_flights", "description": "Search flights.",
              "parameters": {"type": "object", "properties": {
                  "origin": {"type": "string", "description": "IATA code", "pattern": "^[A-Z]{3}$"}},
                  "required": ["origin"]}}
    spec = AgentSpec.for_training("m", tokenizer, [schema])
    # the chat template is shown the schema whole, as the calls are validated against it
    assert spec.tools == [{"type": "function", "function": schema}]
    assert spec.tool_definitions[0]["parameters"]["properties"]["origin"]["pattern"] == "^[A-Z]{3}$"
    agent = build_agent(spec, tokenizer=tokenizer, tools={"search_flights": lambda origin: "3 flights"},
                        generate_fn=_scripted([]), verbosity_level=QUIET)
    assert "does not match" in json.loads(agent.environment("search_flights", {"origin": "Paris"}))["error"]


# ---------------------------------------------------------------------------------------------------------------------
# The schemas the model is shown


def _subschemas(schema: dict, path: str):
    """Every subschema of a JSON Schema, itself included, with its path."""
    yield path, schema
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas") and \
                isinstance(value, dict):
            for name, sub in value.items():
                if isinstance(sub, dict):
                    yield from _subschemas(sub, f"{path}.{key}.{name}")
        elif key in ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
                     "unevaluatedItems", "unevaluatedProperties") and isinstance(value, dict):
            yield from _subschemas(value, f"{path}.{key}")
        elif key in ("anyOf", "allOf", "oneOf", "prefixItems") and isinstance(value, list):
            for i, sub in enumerate(value):
                yield from _subschemas(sub, f"{path}.{key}[{i}]")


def assert_prompt_shows_every_rule(text: str, tools) -> set[str]:
    """Every keyword `ToolSpec.validate_arguments` enforces (its validator's keywords), in every subschema of every
    tool, is in the prompt `text` with its value, and so are defaults and `$defs`; returns the keywords seen."""
    from jsonschema.validators import validator_for

    from toolbrain_hub.tools.checks import default_validator

    seen = set()
    for tool in tools:
        checked = set(validator_for(tool.parameters, default=default_validator()).VALIDATORS) | {"default", "$defs"}
        for path, node in _subschemas(tool.parameters, "parameters"):
            for key in sorted(node.keys() & checked):
                # the Qwen2.5 template writes each tool with `tojson`, i.e. json.dumps with its default separators
                fragment = json.dumps({key: node[key]}, ensure_ascii=False)[1:-1]
                assert fragment in text, f"tool {tool.name!r}: {path}.{key} is hidden from the model: {fragment}"
                seen.add(key)
    return seen


def test_the_model_is_shown_everything_a_call_is_validated_against(tiny_model_dir, tmp_path, tokenizer):
    """Schemas with nested objects, arrays of objects, enums, defaults, formats, ranges, patterns and $ref/$defs:
    the prompt TRL trains on, the deployed agent's, evaluation's and the text-level renderer's (rollouts, SFT/DPO
    data) are the same, and show every rule the validator checks."""
    from toolbrain_hub.evaluation import evaluate
    from toolbrain_hub.models.chat import LocalChatModel

    tools = load_tools(DATA / "travel_tools.json") + load_tools(DATA / "nested_tools.json")
    implementations = {t.name: (lambda _n=t.name, **arguments: f"{_n} done") for t in tools}
    factory = make_environment_factory(tools, implementations=implementations)
    order = {"customer_email": "ana@example.com", "items": [{"sku": "KT-0042", "quantity": 2}],
             "shipping_address": {"street": "4 rue Cler", "city": "Paris", "postcode": "75007"}}
    turns = [_ids(tokenizer, _call_text(("create_order", order))), _ids(tokenizer, "Ordered.")]
    task = "Send two KT-0042 kettles to 4 rue Cler, 75007 Paris; confirm to ana@example.com."
    spec = AgentSpec.for_training(str(tiny_model_dir), tokenizer, factory, system_prompt=SYSTEM, max_turns=2)
    assert spec.tools == [t.to_openai() for t in sorted(tools, key=lambda t: t.name)] == factory.tool_schemas

    train_ids, train_env = _training_episode(tiny_model_dir, tmp_path, tokenizer, spec, task, turns, factory=factory)
    assert [(c.name, c.ok) for c in train_env.calls] == [("create_order", True)]
    seen_by_agent = []
    agent = build_agent(spec, tokenizer=tokenizer, tools=implementations,
                        generate_fn=lambda ids: seen_by_agent.append(ids) or list(turns[len(seen_by_agent) - 1]),
                        verbosity_level=QUIET)
    agent.run(task)
    assert agent.model.last_prompt_ids + agent.model.last_completion_ids == train_ids
    seen_by_eval = []
    evaluate(SpecModel(spec, tokenizer=tokenizer,
                       generate_fn=lambda ids: seen_by_eval.append(ids) or list(turns[len(seen_by_eval) - 1])),
             [{"id": "order", "query": task, "expected_calls": json.dumps([{"name": "create_order",
                                                                             "arguments": order}])}],
             implementations=implementations, progress=False)
    assert seen_by_eval == seen_by_agent

    prompt = tokenizer.decode(seen_by_agent[0])
    assert train_ids[: len(seen_by_agent[0])] == seen_by_agent[0]
    chat_text = LocalChatModel(loaded=(None, tokenizer)).render(spec.initial_messages(task), factory.tool_schemas)
    assert chat_text == prompt
    seen = assert_prompt_shows_every_rule(prompt, tools)
    assert seen >= {"type", "properties", "required", "items", "enum", "default", "format", "minimum", "maximum",
                    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "pattern", "minLength", "maxLength",
                    "minItems", "maxItems", "uniqueItems", "additionalProperties", "$ref", "$defs", "anyOf"}


def test_the_rule_check_catches_what_type_hints_drop(tokenizer):
    """The check above fails on the prompt tools got before (transformers' `get_json_schema` of a typed function)."""
    from transformers.utils import get_json_schema

    tools = load_tools(DATA / "nested_tools.json")
    messages = [{"role": "user", "content": "hi"}]
    reduced = tokenizer.apply_chat_template(messages, tools=[get_json_schema(t.to_callable()) for t in tools],
                                            tokenize=False, add_generation_prompt=True)
    with pytest.raises(AssertionError, match="is hidden from the model"):
        assert_prompt_shows_every_rule(reduced, tools)


def test_an_agent_trained_before_full_schemas_keeps_its_training_prompt(tokenizer):
    """agent_spec_reduced_schemas.json was written by toolbrain-hub before tools were rendered whole: its `tools` hold
    what transformers' `get_json_schema` made of them. The deployed agent and evaluation show that model exactly
    those, not the full schemas a new spec would hold."""
    from toolbrain_hub.evaluation import evaluate

    stored = json.loads((DATA / "agent_spec_reduced_schemas.json").read_text())
    spec = AgentSpec.load(DATA / "agent_spec_reduced_schemas.json")
    assert spec.tools == stored["tools"] and spec.tools != [t.to_openai() for t in spec.tool_specs()]
    task = "Find me a flight from CDG to JFK on 2026-05-01."
    trained = tokenizer.apply_chat_template(spec.initial_messages(task), tools=stored["tools"],
                                            chat_template=stored["chat_template"], add_generation_prompt=True,
                                            tokenize=True, return_dict=False)
    assert render_prompt_ids(spec, tokenizer, spec.initial_messages(task)) == trained
    text = tokenizer.decode(trained)
    assert "IATA code of the departure airport, e.g. CDG (pattern: ^[A-Z]{3}$)" in text and '"pattern"' not in text

    implementations = {name: (lambda **arguments: "no flights") for name in spec.tool_names}
    seen_by_agent, seen_by_eval = [], []
    reply = _ids(tokenizer, "No flights that day.")
    build_agent(spec, tokenizer=tokenizer, tools=implementations,
                generate_fn=lambda ids: seen_by_agent.append(ids) or reply, verbosity_level=QUIET).run(task)
    evaluate(SpecModel(spec, tokenizer=tokenizer, generate_fn=lambda ids: seen_by_eval.append(ids) or reply),
             [{"id": "flight", "query": task, "expected_calls": "[]"}], implementations=implementations,
             progress=False)
    assert seen_by_agent == seen_by_eval == [trained]


def test_builtin_tools_are_recorded_only_for_the_librarys_own_tool_modules(tiny_model_dir, tokenizer):
    plain = _spec(tokenizer, tiny_model_dir, builtin_tools="my_tools.py")
    assert plain.builtin_tools is None
    assert "builtin_tools" not in plain.to_dict()  # older toolbrain-hub versions still read the spec
    email = _spec(tokenizer, tiny_model_dir, builtin_tools="toolbrain_hub.email.tools")
    assert email.builtin_tools == "toolbrain_hub.email.tools"
    assert AgentSpec.from_dict(email.to_dict()).builtin_tools == "toolbrain_hub.email.tools"


def test_spec_errors_name_file_and_field(tmp_path, tiny_model_dir, tokenizer):
    spec = _spec(tokenizer, tiny_model_dir)
    with pytest.raises(AgentSpecError, match="no agent spec here"):
        AgentSpec.load(tmp_path)
    (tmp_path / SPEC_FILE).write_text('{\n  "base_model": "x",\n  oops\n}')
    with pytest.raises(AgentSpecError, match=r"agent_spec.json: line 3: not valid JSON"):
        AgentSpec.load(tmp_path)
    cases = [({"surprise": 1}, r"unknown fields \['surprise'\]"),
             ({"version": 99}, "field 'version': 99 is newer"),
             ({"parser": "regex"}, "field 'parser': unknown parser 'regex'"),
             ({"max_turns": 0}, "field 'max_turns'"),
             ({"top_p": 0}, "field 'top_p'"),
             ({"tools": [{"name": "x"}]}, r"field 'tools\[0\]'"),
             ({"tool_definitions": [{"name": "other"}]}, "field 'tool_definitions'"),
             ({"chat_template": ""}, "field 'chat_template'"),
             ({"base_model_source": {"kind": "cloud"}}, "field 'base_model_source'"),
             ({"base_model_source": "Qwen/Qwen2.5"}, "field 'base_model_source'"),
             # A spec is data from a repo: it may name only the library's own tool modules, by exact name, never
             # another library module whose functions would become tools (toolbrain_hub.publish, hub.repos...).
             ({"builtin_tools": "toolbrain_hub"}, "field 'builtin_tools'"),
             ({"builtin_tools": "toolbrain_hub.hub.repos"}, "field 'builtin_tools'"),
             ({"builtin_tools": "os"}, "field 'builtin_tools'")]
    for change, message in cases:
        (tmp_path / SPEC_FILE).write_text(json.dumps({**spec.to_dict(), **change}))
        with pytest.raises(AgentSpecError, match=message) as error:
            AgentSpec.load(tmp_path)
        assert str(tmp_path / SPEC_FILE) in str(error.value)
    data = spec.to_dict()
    del data["base_model"]
    with pytest.raises(AgentSpecError, match="field 'base_model': missing"):
        AgentSpec.from_dict(data)


def test_render_prompt_ids_matches_the_template_for_canonical_turns(tiny_model_dir, tokenizer):
    spec = _spec(tokenizer, tiny_model_dir)
    conversation = spec.initial_messages("Weather in Paris?") + [
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "name": "get_weather", "content": '{"forecast": "sunny"}'},
        {"role": "assistant", "content": "It is sunny."},
    ]
    ours = render_prompt_ids(spec, tokenizer, conversation)
    full = tokenizer.apply_chat_template(conversation, tools=spec.tools, tokenize=True, return_dict=False)
    # A generated turn ends at its end-of-turn token; the template adds a newline after it.
    assert full[: len(ours)] == ours and tokenizer.decode(full[len(ours):]) == "\n"
    prompt = render_prompt_ids(spec, tokenizer, conversation[:2])
    assert prompt == tokenizer.apply_chat_template(conversation[:2], tools=spec.tools, add_generation_prompt=True,
                                                   tokenize=True, return_dict=False)
    with pytest.raises(ValueError, match="must start with a system or user message"):
        render_prompt_ids(spec, tokenizer, conversation[2:])


def test_agent_uses_the_spec_prompt_and_maps_plain_text_to_the_final_answer(tiny_model_dir, tokenizer):
    spec = _spec(tokenizer, tiny_model_dir)
    turns = [_ids(tokenizer, "Sure.\n" + _call_text(("get_weather", {"city": "Oslo"}))),
             _ids(tokenizer, "Oslo is sunny today.")]
    agent = build_agent(spec, tokenizer=tokenizer, tools=[get_weather, convert], generate_fn=_scripted(turns),
                        verbosity_level=QUIET)
    assert agent.system_prompt == SYSTEM  # not smolagents' 2.3k-token default
    assert "final_answer" in agent.tools and set(agent.tools) == {"get_weather", "convert", "final_answer"}
    result = agent.run("Weather in Oslo?", return_full_result=True)
    assert result.output == "Oslo is sunny today." and result.state == "success"
    first, second = [step for step in agent.memory.steps if type(step).__name__ == "ActionStep"]
    assert [(c.name, c.arguments) for c in first.tool_calls] == [("get_weather", {"city": "Oslo"})]
    assert json.loads(first.observations) == {"city": "Oslo", "forecast": "sunny", "celsius": 21}
    assert second.is_final_answer and [c.name for c in second.tool_calls] == ["final_answer"]
    # What the model received at step 2: the training format, not smolagents' "New task:" / "Observation:" wording.
    roles = [getattr(m.role, "value", m.role) for m in second.model_input_messages]
    assert roles == ["system", "user", "assistant", "tool-response"]
    text = tokenizer.decode(agent.model.last_prompt_ids)
    assert "New task" not in text and "Observation:" not in text and "<tool_response>" in text
    assert second.token_usage.input_tokens == len(agent.model.last_prompt_ids)


def test_agent_with_a_real_model_generates(tiny_model, tiny_model_dir):
    model, tokenizer = tiny_model
    spec = _spec(tokenizer, tiny_model_dir, max_new_tokens=12, max_turns=2)
    agent = build_agent(spec, model, tokenizer, tools=IMPLEMENTATIONS, verbosity_level=QUIET)
    result = agent.run("What is the weather in Paris?", return_full_result=True)
    completion = agent.model.last_completion_ids
    assert 0 < len(completion) <= 12
    expected = render_prompt_ids(spec, tokenizer, spec.initial_messages("What is the weather in Paris?"))
    steps = [s for s in agent.memory.steps if type(s).__name__ == "ActionStep"]
    assert steps[0].token_usage.input_tokens == len(expected)
    # Greedy decoding of a random model: whatever it wrote is either a call or, as plain text, the final answer.
    if result.state == "success":
        body = completion[:-1] if completion[-1] == tokenizer.eos_token_id else completion
        assert result.output == tokenizer.decode(body, skip_special_tokens=True).strip()


def test_turn_limit_ends_the_run_unanswered(tiny_model_dir, tokenizer):
    spec = _spec(tokenizer, tiny_model_dir, max_turns=2)
    call = _ids(tokenizer, _call_text(("get_weather", {"city": "Paris"})))
    agent = build_agent(spec, tokenizer=tokenizer, tools=IMPLEMENTATIONS, generate_fn=_scripted([call, call]),
                        verbosity_level=QUIET)
    result = agent.run("Weather?", return_full_result=True)
    assert result.output is None and result.state == "max_steps_error"
    assert len(agent.environment.calls) == 2


def test_the_reason_for_no_answer_tells_an_empty_reply_from_the_turn_limit(tiny_model_dir, tokenizer):
    spec = _spec(tokenizer, tiny_model_dir, max_turns=3)
    empty = [tokenizer.eos_token_id]  # the model ends its turn at once
    agent = build_agent(spec, tokenizer=tokenizer, tools=IMPLEMENTATIONS, generate_fn=_scripted([empty]),
                        verbosity_level=QUIET)
    answer = agent.run("Weather?")
    assert answer == "" and agent.no_answer_reason(answer) == "the model returned an empty reply"
    call = _ids(tokenizer, _call_text(("get_weather", {"city": "Paris"})))
    agent = build_agent(spec, tokenizer=tokenizer, tools=IMPLEMENTATIONS, generate_fn=_scripted([call] * 3),
                        verbosity_level=QUIET)
    answer = agent.run("Weather?")
    assert answer is None
    assert agent.no_answer_reason(answer) == "no final answer within 3 model turns: the model kept calling tools"
    agent = build_agent(spec, tokenizer=tokenizer, tools=IMPLEMENTATIONS,
                        generate_fn=_scripted([call, _ids(tokenizer, "Sunny.")]), verbosity_level=QUIET)
    answer = agent.run("Weather?")
    assert answer == "Sunny." and agent.no_answer_reason(answer) is None


def test_a_stopped_run_ends_before_its_next_model_turn(tiny_model_dir, tokenizer):
    from toolbrain_hub.stopping import Stopped

    spec = _spec(tokenizer, tiny_model_dir, max_turns=4)
    call = _ids(tokenizer, _call_text(("get_weather", {"city": "Paris"})))
    turns, stop = [call] * 4, []

    def generate(prompt_ids):
        stop.append(1)  # the user presses Stop while the model writes its first reply
        return list(turns.pop())

    agent = build_agent(spec, tokenizer=tokenizer, tools=IMPLEMENTATIONS, generate_fn=generate, verbosity_level=QUIET)
    with pytest.raises(Stopped, match="the answer was stopped before it was complete"):
        agent.run("Weather?", should_stop=lambda: bool(stop))
    assert len(turns) == 3 and agent.environment.calls == []  # one generation, and its call never ran
    assert agent.model.should_stop is None  # the next run is not stopped
    turns[:] = [_ids(tokenizer, "Sunny.")]
    assert agent.run("Weather?") == "Sunny."


def test_retrieval_at_inference_shows_and_allows_only_the_top_k(tiny_model_dir, tokenizer):
    def tool(name, description):
        return {"name": name, "description": description,
                "parameters": {"type": "object", "properties": {"q": {"type": "string", "description": "Query"}},
                               "required": ["q"]}}

    tools = load_tools([tool("get_weather", "Current weather and temperature forecast for a city"),
                        tool("stock_price", "Latest share price of a company on the stock market"),
                        tool("translate_text", "Translate a text into another language")])
    rows = [{"query": "Will it rain in Oslo?"}]
    _, factories = make_routed_environments(rows, tools, top_k=1)
    spec = AgentSpec.for_training("m", tokenizer, factories, tool_top_k=1)
    assert spec.tool_names == ["get_weather", "stock_price", "translate_text"]  # all, rendered as TRL does
    implementations = {t.name: (lambda q, _n=t.name: f"{_n}: {q}") for t in tools}
    turns = [_ids(tokenizer, _call_text(("stock_price", {"q": "ACME"}))), _ids(tokenizer, "done")]
    agent = build_agent(spec, tokenizer=tokenizer, tools=implementations, generate_fn=_scripted(turns),
                        verbosity_level=QUIET)
    assert agent.model.select_tools("Will it rain in Oslo?") == [spec.tools[0]]
    agent.run("Will it rain in Oslo?")
    prompt = tokenizer.decode(agent.model.last_prompt_ids)
    assert '"name": "get_weather"' in prompt and '"name": "translate_text"' not in prompt
    assert [(c.name, c.error) for c in agent.environment.calls] == [("stock_price", "Tool stock_price not found.")]


def test_build_agent_errors(tiny_model_dir, tokenizer):
    spec = _spec(tokenizer, tiny_model_dir)
    with pytest.raises(AgentSpecError, match=r"pass tools= with implementations for \['convert', 'get_weather'\]"):
        build_agent(spec, tokenizer=tokenizer, generate_fn=_scripted([]))
    with pytest.raises(AgentSpecError, match=r"no implementation for the spec's tools \['convert'\]"):
        build_agent(spec, tokenizer=tokenizer, tools={"get_weather": get_weather}, generate_fn=_scripted([]))
    with pytest.raises(ValueError, match="needs a model or a generate_fn"):
        SpecModel(spec, tokenizer=tokenizer)
