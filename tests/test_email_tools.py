"""The email agent's tools and the task protocol they rest on.

The protocol (environment.backends.PythonTools): an implementation declaring the keyword-only parameter `task=None`
receives the episode's task row; its schema leaves `task` out and the model cannot set it. The email tools read the
row's `inbox_address` and `query_date` from it: an agent only sees its own inbox, before the question's date.
"""

from __future__ import annotations

import json
import os

import email_fixtures as F
import pytest

from toolbrain_hub.email import (
    EMAIL_TOOL_NAMES,
    EMAIL_TOOLS_MODULE,
    EmailIndex,
    EmailToolError,
    build_index,
    current_index,
    email_tool_specs,
    read_email,
    return_final_answer,
    search_emails,
    use_index,
)
from toolbrain_hub.email import tools as email_tools
from toolbrain_hub.environment import make_environment_factory
from toolbrain_hub.tools import ToolSpec, load_implementations, load_tools, takes_task

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
QUIET = -1  # smolagents LogLevel.OFF
ROW = {"query": "What is the west desk's budget?", "inbox_address": F.ALLEN, "query_date": "2001-05-12",
       "message_ids": json.dumps([F.SENT_BUDGET]), "gold_answer": "4.5 million dollars"}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    folder = tmp_path_factory.mktemp("email")
    build_index(F.write_maildir(folder), folder / "index.db", progress=False)
    return folder / "index.db"


@pytest.fixture()
def indexed(db):
    use_index(db)
    yield db
    use_index(None)


def _ids(results):
    return [r["message_id"] for r in results]


def test_the_schemas_hide_task_and_the_module_is_the_implementations():
    specs = {spec.name: spec for spec in email_tool_specs()}
    assert tuple(specs) == EMAIL_TOOL_NAMES
    assert all("task" not in spec.properties for spec in specs.values())
    assert specs["search_emails"].required == ["inbox", "keywords"]
    assert set(specs["search_emails"].properties) == {"inbox", "keywords", "from_addr", "to_addr", "sent_after",
                                                      "sent_before", "max_results"}
    assert specs["search_emails"].properties["keywords"]["type"] == "array"
    assert specs["read_email"].required == ["message_id"] and list(specs["read_email"].properties) == ["message_id"]
    assert specs["return_final_answer"].required == ["answer", "sources"]
    assert ToolSpec.from_function(search_emails) == specs["search_emails"]
    functions = load_implementations(EMAIL_TOOLS_MODULE, list(EMAIL_TOOL_NAMES))
    assert functions == {"search_emails": search_emails, "read_email": read_email,
                         "return_final_answer": return_final_answer}
    assert takes_task(search_emails) and takes_task(read_email) and not takes_task(return_final_answer)


def test_the_task_row_limits_search_to_the_inbox_and_before_the_date(indexed):
    with pytest.raises(EmailToolError, match=f"you can only search your own inbox '{F.ALLEN}'"):
        search_emails(F.LAY, ["budget"], task=ROW)
    # REPLY_ALT was sent on the query date: not before it
    assert _ids(search_emails(F.ALLEN, ["budget"], task=ROW)) == [F.SENT_BUDGET]
    assert _ids(search_emails("allen-p", ["budget"], task=ROW)) == [F.SENT_BUDGET]  # the inbox's folder name
    assert _ids(search_emails(F.ALLEN, ["budget"], sent_before="2001-06-30", task=ROW)) == [F.SENT_BUDGET]  # clamped
    assert _ids(search_emails(F.ALLEN, ["budget"], sent_before="2001-05-10", task=ROW)) == []  # an earlier bound
    assert F.HTML_ONLY not in _ids(search_emails(F.ALLEN, [], max_results=50, task=ROW))
    assert _ids(search_emails(F.ALLEN, "budget review", task=ROW)) == [F.SENT_BUDGET]  # a string of keywords
    with pytest.raises(EmailToolError, match="sent_after: 'yesterday' is not an ISO 8601 date"):
        search_emails(F.ALLEN, ["budget"], sent_after="yesterday", task=ROW)
    # without a task (a deployed agent, a chat): no limit
    assert set(_ids(search_emails(F.ALLEN, ["budget"]))) == {F.SENT_BUDGET, F.REPLY_ALT}
    assert _ids(search_emails(F.LAY, ["confidential"])) == [F.LAY_SECRET]
    with pytest.raises(EmailToolError, match="no inbox 'nobody@nowhere.com'"):
        search_emails("nobody@nowhere.com", ["budget"])


def test_reading_outside_the_inbox_or_on_the_date_reads_as_not_found(indexed):
    assert read_email(F.SENT_BUDGET, task=ROW)["body"].startswith("John,\n\nThe quarterly budget")
    missing = read_email("<no.such@thyme>", task=ROW)
    assert missing == {"error": "not found", "message_id": "<no.such@thyme>"}
    # another inbox's message and one sent on the query date answer exactly as one that does not exist
    assert read_email(F.LAY_SECRET, task=ROW) == {"error": "not found", "message_id": F.LAY_SECRET}
    assert read_email(F.REPLY_ALT, task=ROW) == {"error": "not found", "message_id": F.REPLY_ALT}
    assert read_email(F.LAY_SECRET)["inbox"] == F.LAY  # no task, no limit
    assert return_final_answer("4.5 million dollars", [F.SENT_BUDGET]) == {
        "answer": "4.5 million dollars", "sources": [F.SENT_BUDGET], "status": "final answer recorded"}


def test_the_environment_passes_the_row_and_the_model_cannot_replace_it(indexed):
    implementations = {name: getattr(email_tools, name) for name in EMAIL_TOOL_NAMES}
    env = make_environment_factory(implementations=implementations)()
    assert all("task" not in json.dumps(schema["function"]["parameters"]) for schema in env.tool_schemas)
    env.reset(**ROW)
    found = json.loads(env("search_emails", {"inbox": F.ALLEN, "keywords": ["budget"],
                                             "sent_before": "2001-12-31"}))
    assert _ids(found) == [F.SENT_BUDGET]
    refused = json.loads(env("search_emails", {"inbox": F.LAY, "keywords": ["budget"]}))
    assert "you can only search your own inbox" in refused["error"] and env.calls[-1].error
    # a `task` argument the model writes is replaced by the row
    sneaky = {"message_id": F.LAY_SECRET, "task": {"inbox_address": F.LAY, "query_date": "2002-01-01"}}
    assert json.loads(env("read_email", sneaky)) == {"error": "not found", "message_id": F.LAY_SECRET}
    assert json.loads(env("search_emails", {"inbox": F.LAY, "keywords": ["budget"], "task": {}}))["error"]
    # the next episode is another task: its own inbox and date
    env.reset(query="q", inbox_address=F.LAY, query_date="2001-06-01")
    assert json.loads(env("read_email", {"message_id": F.LAY_SECRET}))["subject"] == "Budget secret"
    env.reset(query="a chat without a task row")
    assert json.loads(env("read_email", {"message_id": F.REPLY_ALT}))["inbox"] == F.ALLEN


def test_the_task_protocol_is_generic():
    seen = []

    def lookup(key: str, *, task: dict | None = None) -> str:
        """Look a key up in the task's own data.

        Args:
            key: The key.
            task: The task row (set by the environment).
        """
        seen.append(task)
        return f"{key} for {task['user'] if task else 'nobody'}"

    def todo(*, task: str) -> str:
        """Add a to-do item.

        Args:
            task: What to do.
        """
        return f"added {task}"

    assert not takes_task(todo)  # a required keyword-only `task` is an ordinary argument
    assert list(load_tools([todo])[0].properties) == ["task"]
    assert lookup("x") == "x for nobody"  # called directly, no row needed
    env = make_environment_factory(implementations={"lookup": lookup, "todo": todo})()
    env.reset(query="hi", user="ada")
    assert env("lookup", {"key": "plan"}) == "plan for ada"
    assert seen[-1] == {"query": "hi", "user": "ada"}
    assert env("lookup", {"key": "plan", "task": {"user": "eve"}}) == "plan for ada"
    assert env("todo", {"task": "buy milk"}) == "added buy milk"
    # a schema given as JSON that declares `task` keeps it the model's argument, even for a task=None function
    json_spec = {"name": "lookup", "description": "Look a key up.", "parameters": {
        "type": "object", "properties": {"key": {"type": "string"}, "task": {"type": "object"}}, "required": ["key"]}}
    env = make_environment_factory([json_spec], implementations={"lookup": lookup})()
    env.reset(query="hi", user="ada")
    assert env("lookup", {"key": "plan", "task": {"user": "eve"}}) == "plan for eve"


def test_which_index_the_tools_use(db, tmp_path, monkeypatch):
    monkeypatch.setenv(email_tools.INDEX_ENV, str(db))
    use_index(None)
    try:
        assert current_index().path == db
        opened = EmailIndex(db)
        use_index(opened)
        assert current_index() is opened
        use_index(tmp_path / "missing.db")
        with pytest.raises(Exception, match="no email index there"):
            search_emails(F.ALLEN, ["budget"])
        opened.close()
    finally:
        use_index(None)


def test_a_deployed_agent_runs_the_email_tools(tiny_model_dir, indexed):
    from transformers import AutoTokenizer

    from toolbrain_hub.agent import AgentSpec, build_agent

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    factory = make_environment_factory(implementations={n: getattr(email_tools, n) for n in EMAIL_TOOL_NAMES})
    spec = AgentSpec.for_training(str(tiny_model_dir), tokenizer, factory, system_prompt="Answer from the emails.")
    assert all("task" not in json.dumps(tool) for tool in spec.tools)

    def turn(text):
        return tokenizer.encode(text, add_special_tokens=False) + [tokenizer.eos_token_id]

    def call(name, arguments):
        return turn(f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>")

    turns = [call("search_emails", {"inbox": F.ALLEN, "keywords": ["budget", "west"]}),
             call("read_email", {"message_id": F.SENT_BUDGET}),
             call("return_final_answer", {"answer": "4.5 million dollars", "sources": [F.SENT_BUDGET]}),
             turn("4.5 million dollars")]
    agent = build_agent(spec, tokenizer=tokenizer, tools=[search_emails, read_email, return_final_answer],
                        generate_fn=lambda ids: list(turns.pop(0)), verbosity_level=QUIET)
    assert agent.run("What is the west desk's budget?") == "4.5 million dollars"
    calls = agent.environment.calls
    assert [c.name for c in calls] == ["search_emails", "read_email", "return_final_answer"]
    assert all(c.ok for c in calls)
    assert _ids(json.loads(calls[0].result)) == [F.SENT_BUDGET]
    assert "4.5 million" in json.loads(calls[1].result)["body"]
