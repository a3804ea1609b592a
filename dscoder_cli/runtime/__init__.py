"""The runtime every stage shares: shard I/O, manifests and resume, executors, progress.

Nothing here imports typer: stages call it from Python as well as through the CLI.
"""
