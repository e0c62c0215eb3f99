"""The answer ladder on hand-built email-agent traces: format error < wrong answer < no answer < right answer, the
bonuses for cited sources and fewer turns, the judge's label, and the reward as a config and TRL use it."""

from __future__ import annotations

import json

import pytest
from email_rows import ROWS, email_row

from toolbrain_hub.config import GRPOTrainConfig
from toolbrain_hub.rewards import (
    LADDER_SCORES,
    RewardError,
    answer_ladder,
    answer_matches,
    combine,
    expected_calls_match,
    grade_answer,
    reward_range,
    says_no_answer,
    score,
    step_efficiency,
    submitted_answer,
    to_trl_reward,
    unneeded_tool_penalty,
)
from toolbrain_hub.rewards.answer_ladder import SOURCES_BONUS, TURN_BUDGET, TURNS_BONUS
from toolbrain_hub.traces import Trace

ROW = ROWS[0]  # "When is the Q3 review?" -> "May 14, 2001", cited in <1001.JavaMail.evans@thyme>
GOLD_ID = "<1001.JavaMail.evans@thyme>"
SEARCH = {"name": "search_emails", "arguments": {"inbox": "sara.shackleton@enron.com", "keywords": ["Q3", "review"]}}
READ = {"name": "read_email", "arguments": {"message_id": GOLD_ID}}


def _call(call: dict) -> str:
    return f"<tool_call>\n{json.dumps(call)}\n</tool_call>"


def _final(answer, sources=None) -> dict:
    return {"name": "return_final_answer", "arguments": {"answer": answer, "sources": sources or []}}


def _trace(*replies: str, end: str | None = "Done.") -> Trace:
    """An episode: each reply is one model turn; a turn with a call gets a tool result; `end` is the last text."""
    messages = [{"role": "user", "content": ROW["query"]}]
    for reply in replies:
        messages.append({"role": "assistant", "content": reply})
        if "<tool_call>" in reply:
            messages.append({"role": "tool", "name": "tool", "content": '{"ok": true}'})
    if end is not None:
        messages.append({"role": "assistant", "content": end})
    return Trace.from_messages(messages)


def _answered(answer, sources=None, *, searches: int = 1) -> Trace:
    return _trace(*[_call(SEARCH)] * searches, _call(READ), _call(_final(answer, sources)))


def test_the_rungs_are_strictly_ordered_whatever_the_bonuses():
    cases = {
        "format_error": [
            _trace('<tool_call>{"name": "search_emails", "arguments": {</tool_call>'),  # malformed call
            _trace(_call({"name": "search_emails", "arguments": {"inbox": 5}})),  # arguments the schema rejects
            _trace(_call({"name": "delete_all", "arguments": {}})),  # a tool the task does not have
            _trace(_call({"name": "return_final_answer", "arguments": {"answer": None, "sources": []}})),
            _trace(end=""),  # no output at all
        ],
        "wrong": [_answered("June 3, 2001"), _answered("June 3, 2001", [GOLD_ID]),
                  _trace(end="The review is on June 3.")],
        "no_answer": [_answered("I could not find this in the emails."), _answered("I don't know", [GOLD_ID]),
                      _trace(_call(SEARCH), end=None),  # cut at the turn limit while still searching
                      _trace(_call(_final("")))],
        "right": [_answered("May 14, 2001"), _answered("The Q3 review is on May 14, 2001.", [GOLD_ID]),
                  _answered("May 14, 2001", [GOLD_ID], searches=9), _trace(end="It is on 14 May 2001.")],
    }
    values = {}
    for rung, traces in cases.items():
        grades = [grade_answer(t, ROW) for t in traces]
        assert [g.rung for g in grades] == [rung] * len(traces), [g.reason for g in grades]
        values[rung] = [g.value for g in grades]
        assert [answer_ladder(t, **ROW) for t in traces] == values[rung]
    order = ["format_error", "wrong", "no_answer", "right"]
    for lower, higher in zip(order, order[1:], strict=False):
        assert max(values[lower]) < min(values[higher]), (lower, higher)
    low, high = answer_ladder.value_range
    assert low == LADDER_SCORES["format_error"] and high == pytest.approx(1.4)
    assert all(low <= v <= high for vs in values.values() for v in vs)
    assert reward_range({"answer_ladder": 2.0}) == (2 * low, 2 * high)


def test_sources_and_turns_bonuses():
    bare = grade_answer(_answered("May 14, 2001"), ROW)
    cited = grade_answer(_answered("May 14, 2001", [GOLD_ID]), ROW)
    assert (bare.sources_f1, cited.sources_f1) == (0.0, 1.0)
    assert cited.value - bare.value == pytest.approx(SOURCES_BONUS)
    # Ids written without their angle brackets, as a comma-separated string, with an extra wrong one: F1 2/3 for a
    # row that does not list its tools; where the tools are listed, a string for the list `sources` is a format error.
    loose_trace = _answered("May 14, 2001", "1001.JavaMail.evans@thyme, <9.JavaMail.x@y>")
    loose = grade_answer(loose_trace, {**ROW, "tools": None})
    assert loose.sources == ["1001.JavaMail.evans@thyme", "9.JavaMail.x@y"] and loose.sources_f1 == pytest.approx(2 / 3)
    assert grade_answer(loose_trace, ROW).rung == "format_error"
    assert "invalid arguments for 'return_final_answer'" in grade_answer(loose_trace, ROW).reason
    # Three model turns (search, read, answer) + the closing text: 4; each more turn costs TURNS_BONUS / (budget - 1).
    assert cited.turns == 4
    assert cited.value == pytest.approx(1.0 + SOURCES_BONUS + TURNS_BONUS * (TURN_BUDGET - 4) / (TURN_BUDGET - 1))
    longer = grade_answer(_answered("May 14, 2001", [GOLD_ID], searches=3), ROW)
    assert longer.turns == 6 and longer.value < cited.value
    assert grade_answer(_answered("May 14, 2001", [GOLD_ID], searches=12), ROW).value == pytest.approx(1.3)
    one_turn = grade_answer(_trace(_call(_final("May 14, 2001", [GOLD_ID])), end=None), ROW)
    assert one_turn.turns == 1 and one_turn.value == pytest.approx(1.4)
    # A row's own turn budget replaces the default.
    assert grade_answer(_answered("May 14, 2001", [GOLD_ID]), {**ROW, "max_turns": 4}).value == pytest.approx(1.3)
    # A wrong answer earns the sources bonus (it found the right email), never the turns bonus; no answer neither.
    wrong = grade_answer(_answered("June 3", [GOLD_ID]), ROW)
    assert wrong.value == pytest.approx(LADDER_SCORES["wrong"] + SOURCES_BONUS)
    assert grade_answer(_answered("I don't know", [GOLD_ID]), ROW).value == LADDER_SCORES["no_answer"]
    # Without message_ids there is no sources bonus.
    no_ids = {**ROW, "message_ids": None}
    assert grade_answer(_answered("May 14, 2001", [GOLD_ID]), no_ids).sources_f1 is None


def test_the_judges_label_decides_right_and_wrong():
    hedge = _answered("Either May 14, 2001 or June 3, 2001.", [GOLD_ID])
    assert grade_answer(hedge, ROW).rung == "right"  # the text match lets a hedge pass...
    judged = grade_answer(hedge, {**ROW, "judge_label": "INCORRECT"})  # ...the judge does not
    assert (judged.rung, judged.decided_by) == ("wrong", "judge")
    assert grade_answer(_answered("June 3"), {**ROW, "judge_label": "correct"}).rung == "right"
    assert grade_answer(_answered("Maybe June"), {**ROW, "judge_label": "NO_ANSWER"}).rung == "no_answer"
    # A format error stays one, and an episode without an answer has none, whatever the label.
    broken = _trace('<tool_call>{"name": "read_email", "arguments": {</tool_call>', _call(_final("May 14, 2001")))
    assert grade_answer(broken, {**ROW, "judge_label": "CORRECT"}).rung == "format_error"
    assert grade_answer(_trace(_call(SEARCH), end=None), {**ROW, "judge_label": "CORRECT"}).rung == "no_answer"
    with pytest.raises(RewardError, match="judge_label 'MAYBE'"):
        answer_ladder(_answered("x"), **{**ROW, "judge_label": "MAYBE"})
    # Without a gold answer and a label, right and wrong cannot be told apart: an error, never a silent value.
    with pytest.raises(RewardError, match="no gold_answer and no judge_label"):
        answer_ladder(_answered("May 14"), **{**ROW, "gold_answer": ""})
    assert answer_ladder(_answered("May 14"), **{**ROW, "gold_answer": "", "judge_label": "CORRECT"}) > 1.0


def test_reading_the_answer_and_refusals():
    trace = _trace(_call(_final("first guess", ["a"])), _call(_final("May 14", '["<b>", "c"]')), end="Bye.")
    assert submitted_answer(trace) == ("May 14", ["b", "c"])  # the last final-answer call, not the closing text
    assert submitted_answer(_trace(end="It is May 14.")) == ("It is May 14.", [])
    for text in ["I don't know.", "I couldn’t find any email about the review.", "There is no information about it",
                 "Unable to find the answer.", "No relevant emails were found.", "Unknown", "N/A",
                 "The emails do not say; the date is not mentioned.", "I was not able to find it", "",
                 "I cannot answer that from the emails.", "I didn't find it.", "None of the emails say."]:
        assert says_no_answer(text), text
    for text in ["May 14, 2001", "The review was moved because the room was not free.", "Known issue: none.",
                 "He did not answer the call."]:
        assert not says_no_answer(text), text
    assert answer_matches("$25 million", "25 million") and answer_matches("25", "25.0")
    assert answer_matches("Shackleton, Sara", "Sara Shackleton") and answer_matches("14 May 2001", "May 14, 2001")
    assert not answer_matches("Sara Smith", "Sara Shackleton")  # token F1 0.5, but one of two words
    assert not answer_matches("May 15, 2001", "May 14, 2001") and not answer_matches("", "x")


def test_email_tasks_are_no_no_tool_tasks_for_the_call_rewards():
    searched = _answered("May 14, 2001", [GOLD_ID])
    assert unneeded_tool_penalty(searched, **ROW) == 0.0  # kind email_search: tools are needed
    assert expected_calls_match(searched, **ROW) == expected_calls_match(_trace(end="May 14"), **ROW) == 0.0
    assert step_efficiency(searched, **ROW) == 1 / 4  # by turns, not "every call is extra"
    no_tool = {**ROW, "kind": "no_tool"}
    assert unneeded_tool_penalty(searched, **no_tool) == -1.0 and expected_calls_match(searched, **no_tool) == 0.0


def test_usable_by_name_in_a_config_combined_and_through_trl():
    config = GRPOTrainConfig(rewards={"answer_ladder": 1.0, "format": 0.2})
    assert config.rewards["answer_ladder"] == 1.0
    total = combine({"answer_ladder": 1.0, "format": 0.2})
    traces = [_answered("May 14, 2001", [GOLD_ID]), _answered("June 3"), _answered("I don't know")]
    rows = [ROW] * 3
    ladder = score("answer_ladder", traces, rows)
    assert score(total, traces, rows) == pytest.approx([v + 0.2 for v in ladder])  # every call tagged and valid

    reward = to_trl_reward("answer_ladder")
    prompt = ROW["prompt"]
    completions = [[{"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": c}]},
                    {"role": "tool", "name": c["name"], "content": "ok"}] for c in (_final("May 14, 2001", [GOLD_ID]),
                                                                                  _final("June 3"))]
    columns = {k: [ROW[k]] * 2 for k in ("gold_answer", "message_ids", "kind", "tools", "id")}
    values = reward(prompts=[prompt] * 2, completions=completions, trainer_state=None, **columns)
    assert reward.__name__ == "answer_ladder"
    assert values[0] == pytest.approx(1.0 + SOURCES_BONUS + TURNS_BONUS) and values[1] == LADDER_SCORES["wrong"]


def test_second_row_and_numbers():
    row = email_row("What is the notional amount?", "$25 million", ["<1002.JavaMail.evans@thyme>"])
    assert grade_answer(_answered("25 million dollars"), row).rung == "right"
    assert grade_answer(_answered("$52 million"), row).rung == "wrong"
