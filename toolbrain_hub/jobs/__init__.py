"""Jobs: the run registry (`jobs.registry`), the launchers that start, follow and cancel training runs (a local
process: `jobs.launchers`; HF Jobs: `jobs.hf_jobs`, with the code a job installs, `jobs.code`), the scrubbed child
environment (`jobs.child_env`) and the `RunManager` that queues runs (`jobs.manager`).
"""
