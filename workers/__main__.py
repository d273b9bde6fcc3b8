"""`python -m workers`: the same as `party-engine worker`."""

from party_engine.cli import worker

worker()
