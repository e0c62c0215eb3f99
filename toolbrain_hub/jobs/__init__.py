"""Jobs: the run registry and the launchers that start, follow and cancel training runs (a local process or HF Jobs),
with the scrubbed child environment and the code a job installs.
"""
