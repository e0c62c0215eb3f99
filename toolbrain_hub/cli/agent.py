"""`toolbrain-hub publish RUN_DIR [--repo REPO_ID] [--private] [--out DIR]` and
`toolbrain-hub chat REPO_OR_DIR "question" [--tools FILE.py --trust-tools-file] [--max-steps N]`.

Bad input (an unfinished run, a file that would leak a secret, a Hub error) ends with one line on stderr and exit
code 2: `cli.main` turns every ToolBrainError (PublishError, HubError, UsageError...) into that.
"""

from __future__ import annotations

from .common import positive_int


def register(subparsers) -> None:
    pub = subparsers.add_parser(
        "publish", help="publish a finished training run as an agent (adapter, agent spec, eval, model card)",
        description="Assemble the agent folder of a finished run (LoRA adapter, agent_spec.json, evaluation, reward "
                    "curve, sanitized training config, README.md model card) and push it to a Hub model repo, or "
                    "write it to a local folder (the default without --repo: RUN_DIR/agent).")
    pub.add_argument("run_dir", metavar="RUN_DIR", help="the run folder written by `toolbrain-hub train`")
    pub.add_argument("--repo", metavar="REPO_ID", help="Hub model repo to push to: 'user/name' (or 'name' for your "
                                                       "namespace); the token comes from HF_TOKEN or `hf auth login`")
    pub.add_argument("--private", action="store_true", help="create the Hub repo as private")
    pub.add_argument("--out", metavar="DIR", help="also (or, without --repo, only) write the agent folder here")
    pub.add_argument("--license", help="license id for the model card (default: the base model's)")
    pub.set_defaults(func=_publish)
    _register_chat(subparsers)


def _publish(args) -> int:
    from ..publishing.publisher import publish

    result = publish(args.run_dir, args.repo, out_dir=args.out, private=args.private, license=args.license)
    where = f"pushed to {result.url_or_path}" if result.repo_id else f"written to {result.url_or_path}"
    if result.repo_id and result.folder:
        where += f" (and written to {result.folder})"
    print(f"agent {where}")
    for name in result.files:
        print(f"  {name}")
    if result.repo_id:
        print(f'load it with: from toolbrain_hub import load_agent; agent = load_agent("{result.repo_id}")')
    else:
        print(f'load it with: from toolbrain_hub import load_agent; agent = load_agent("{result.url_or_path}")')
    return 0


def _register_chat(subparsers) -> None:
    chat = subparsers.add_parser(
        "chat", help="ask a published agent one question; prints each tool call, its result, and the answer",
        description="Load a published agent (Hub repo id, agent folder or training run folder) with load_agent and "
                    "run one question through its tool loop. Without --tools the tools are schema-only: a call "
                    "returns a message saying which implementation to pass.")
    chat.add_argument("agent", metavar="REPO_OR_DIR",
                      help="Hub model repo 'user/name', an agent folder, or a training run folder")
    chat.add_argument("question", help="the question to ask")
    chat.add_argument("--tools", metavar="FILE.py", help="Python file (or module) defining a function for each of "
                                                         "the agent's tools, by name; needs --trust-tools-file")
    chat.add_argument("--trust-tools-file", action="store_true",
                      help="confirm that --tools may run: importing the file executes its code")
    chat.add_argument("--max-steps", type=positive_int, metavar="N", help="model turns (default: the agent spec's)")
    chat.add_argument("--revision", help="branch or commit of the Hub repo")
    chat.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    chat.add_argument("--quantization", choices=["none", "4bit", "8bit"], default="none",
                      help="load the base model quantized with bitsandbytes (default: none)")
    chat.add_argument("--merge", action="store_true", help="merge the adapter into the base weights")
    chat.set_defaults(func=_chat)



def _chat(args) -> int:
    import json

    from smolagents.agents import ToolOutput
    from smolagents.memory import FinalAnswerStep, ToolCall

    from ..agent.loading import load_agent, read_agent_spec
    from ..errors import ConfigError
    from .common import UsageError

    if args.trust_tools_file and not args.tools:
        raise UsageError("--trust-tools-file confirms --tools FILE.py; pass both or neither")
    tools = None
    if args.tools:
        if not args.trust_tools_file:
            raise UsageError(f"--tools {args.tools} runs that file's code: add --trust-tools-file to confirm you trust "
                             "it")
        from ..tools.implementations import load_implementations

        spec = read_agent_spec(args.agent, revision=args.revision)
        try:
            tools = load_implementations(args.tools, spec.tool_names)
        except ConfigError as e:
            raise UsageError(str(e).replace("implementations: ", "--tools: ", 1)) from None
    agent = load_agent(args.agent, tools=tools, revision=args.revision, max_steps=args.max_steps, device=args.device,
                       quantization=None if args.quantization == "none" else args.quantization, merge=args.merge,
                       verbosity_level=0)
    if tools is None and agent.spec.tool_names:
        print(f"(no --tools: {', '.join(agent.spec.tool_names)} are schema-only)")
    answer = None
    for event in agent.run(args.question, stream=True):
        if isinstance(event, ToolCall) and event.name != "final_answer":
            print(f"tool call: {event.name}({json.dumps(event.arguments, ensure_ascii=False)})", flush=True)
        elif isinstance(event, ToolOutput) and not event.is_final_answer:
            print(f"tool result: {event.output}", flush=True)
        elif isinstance(event, FinalAnswerStep):
            answer = event.output
    if answer is None:
        print(f"answer: (none: the agent stopped after {agent.max_steps} turns without answering)")
    else:
        print(f"answer: {answer}")
    return 0
