"""Many runs: a manifest's jobs, the executors that run them, ``batch.json`` and the contact sheet."""
