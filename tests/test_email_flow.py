"""The email-search agent end to end on the generated corpus: demo corpus -> FTS index -> question task set -> GRPO
with the real email tools and the answer ladder -> evaluation with the answer judge -> publish -> `load_agent` in one
call, its tools searching the same index.

The policy is the pinned tiny model (tests/pinned.py explains why a random one cannot be asserted on): its greedy
reply to any question is one search of the first held-out question's inbox, and after the tool's result, that
question's answer. So the held-out question it was pinned to is answered right and the others wrong, which the
judge (a real local OpenAI-compatible server applying a fair rule) and the ladder must both see."""

from __future__ import annotations

import json

import pytest
from email_rows import fair_judge
from openai_server import ScriptedOpenAIServer

from toolbrain_hub.email import EMAIL_TOOLS_MODULE, build_index, import_questions, make_demo_corpus
from toolbrain_hub.email.questions import email_request, load_questions
from toolbrain_hub.email.tools import INDEX_ENV
from toolbrain_hub.evaluation import evaluate
from toolbrain_hub.tasks import save_tasks

QUIET = 0  # smolagents verbosity


def cited_ids(question) -> set[str]:
    return {m.strip("<>") for m in question.message_ids}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("email-demo")
    demo = make_demo_corpus(folder, seed=0)
    build_index(folder, folder / "index.db", progress=False)
    questions = load_questions(folder)
    tasks = import_questions(folder, check=str(folder / "index.db"))
    save_tasks(tasks, folder / "tasks")
    target = next(q for q in questions if q.split == "test" and q.id in {r.split("email-", 1)[1]
                                                                          for r in tasks.test["id"]})
    return {"folder": folder, "demo": demo, "db": folder / "index.db", "tasks": folder / "tasks",
            "test": [dict(r) for r in tasks.test], "target": target}


@pytest.fixture(scope="module")
def pinned_email_model(tmp_path_factory, corpus):
    from toolbrain_hub.email import EmailIndex
    from toolbrain_hub.email.checks import search_keywords
    from toolbrain_hub.models.tiny import build_pinned_model

    target = corpus["target"]
    cited = cited_ids(target)
    with EmailIndex(corpus["db"]) as index:  # a keyword of the question that finds a cited email
        keyword = next(w for w in search_keywords(target.question)
                       if cited & {h["message_id"].strip("<>") for h in
                                   index.search(target.inbox_address, [w], sent_before=target.query_date)})
    call = {"name": "search_emails", "arguments": {"inbox": target.inbox_address, "keywords": [keyword]}}
    return build_pinned_model(tmp_path_factory.mktemp("pinned-email"),
                              first_reply=f"<tool_call>\n{json.dumps(call)}\n</tool_call>",
                              after_tool_reply=target.answer)


def test_train_evaluate_publish_and_load_the_email_agent(corpus, pinned_email_model, tmp_path, monkeypatch):
    from toolbrain_hub import load_agent, publish, train
    from toolbrain_hub.agent import AgentSpec

    monkeypatch.setenv(INDEX_ENV, str(corpus["db"]))
    target, test = corpus["target"], corpus["test"]
    run_dir = tmp_path / "run"
    with ScriptedOpenAIServer(fair_judge) as judge:
        result = train({"model": str(pinned_email_model), "tasks": str(corpus["tasks"]), "output_dir": str(run_dir),
                        "implementations": EMAIL_TOOLS_MODULE, "rewards": {"format": 0.1},
                        "judge": {"kind": "answer", "model": judge.url, "audit": 3},
                        "max_steps": 2, "num_generations": 2, "per_device_train_batch_size": 2, "max_turns": 2,
                        "max_completion_length": 1024, "learning_rate": 1e-5, "threads": 1, "seed": 0,
                        "save_steps": 0, "eval_steps": 0,
                        "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}},
                       progress=False)
    assert result.steps == 2
    # The answer judge was audited before it became the reward: 3 questions x 4 cases of known label, all agreed.
    audit = json.loads((run_dir / "judge_audit.json").read_text())
    assert audit["cases"] == 12 and audit["agreement"] == 1.0 and audit["trusted"] is True
    spec = AgentSpec.load(run_dir / "adapter")
    assert spec.builtin_tools == EMAIL_TOOLS_MODULE
    assert sorted(spec.tool_names) == ["read_email", "return_final_answer", "search_emails"]
    # The rollouts ran the real tools: the ladder's reward was logged for every step.
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert sum(1 for m in metrics if "rewards/answer_judge/mean" in m) == 2
    rollouts = [json.loads(line)["trace"] for line in (run_dir / "traces.jsonl").read_text().splitlines()]
    # Each rollout searched the pinned inbox; the tool refused it for a question of another inbox (an agent only
    # sees its own), answered it for a question of that inbox. Then the pinned answer ended the episode.
    for trace in rollouts:
        search = trace["turns"][0]
        assert search["calls"][0]["name"] == "search_emails" and len(search["results"]) == 1
        assert trace["final_answer"] == target.answer

    with ScriptedOpenAIServer(fair_judge) as judge:
        evaluation = evaluate(str(run_dir), test, judge=judge.url, implementations=EMAIL_TOOLS_MODULE,
                              progress=False)
    labels = {row["id"]: row["judge_label"] for row in evaluation.rows}
    gold = {row["id"]: row["gold_answer"] for row in test}
    right = f"email-{target.id}"
    assert labels[right] == "CORRECT"
    # Every other question got the pinned answer: wrong, unless its own answer happens to be the same text.
    assert all(label == "INCORRECT" for task_id, label in labels.items()
               if target.answer.lower() not in gold[task_id].lower() and gold[task_id].lower() not in
               target.answer.lower())
    n_right = sum(1 for label in labels.values() if label == "CORRECT")
    assert evaluation.metrics["judged_tasks"] == len(test)
    assert evaluation.metrics["judged_correct_rate"] == pytest.approx(n_right / len(test))
    assert evaluation.metrics["judged_hallucination_rate"] == pytest.approx(1 - n_right / len(test))
    trace = next(t for t in evaluation.traces if t.task_id == right)
    first = trace.model_turns[0].calls[0]
    assert first.name == "search_emails" and first.arguments["inbox"] == target.inbox_address

    agent_dir = publish(run_dir, out_dir=tmp_path / "agent").folder
    # One call: the email tools come with the library (the base model is a test folder publish does not name).
    agent = load_agent(agent_dir, base_model=str(pinned_email_model), verbosity_level=QUIET)
    answer = agent.run(email_request(target))
    assert answer == target.answer
    searched = agent.environment.calls[0]
    assert searched.name == "search_emails" and searched.ok
    hits = json.loads(searched.result)
    assert cited_ids(target) & {hit["message_id"].strip("<>") for hit in hits}
