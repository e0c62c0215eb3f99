"""`toolbrain-hub publish RUN_DIR [--repo REPO_ID] [--private] [--out DIR]`.

Bad input (an unfinished run, a file that would leak a secret, a Hub error) ends with one line on stderr and exit
code 2: `cli.main` turns HubError and UsageError into that.
"""

from __future__ import annotations


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


def _publish(args) -> int:
    from .cli import UsageError
    from .publish import PublishError, publish

    try:
        result = publish(args.run_dir, args.repo, out_dir=args.out, private=args.private, license=args.license)
    except PublishError as e:
        raise UsageError(str(e)) from None
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
