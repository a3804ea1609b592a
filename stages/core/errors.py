"""The exceptions whose class decides the exit code (0 success, 1 failure, 2 usage error).

Stage and library code raises these; the CLI maps them to a one-line `dscoder: error: …` and the
exit code in one place (`dscoder_cli/errors.py`). Anything else is a bug and keeps its traceback.
"""


class DscoderError(Exception):
    """A failure the user should see as one clear line (exit code 1)."""

    exit_code = 1


class UsageError(DscoderError, ValueError):
    """The command cannot run as asked: a bad option, options changed on an existing output, an
    input that is not what the stage reads (exit code 2). A ValueError too, so config validation
    reads naturally from Python (`pytest.raises(ValueError)`)."""

    exit_code = 2


class CorruptShard(DscoderError):
    """An input shard that pyarrow cannot read; the message names the file and the reason."""
