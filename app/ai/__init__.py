"""AI ranking through an OpenAI-compatible provider: ports (cache, ledger), budget, provider client, ranker."""
