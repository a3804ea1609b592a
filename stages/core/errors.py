"""Errors with a meaning for the exit code (DESIGN.md section 3: 0 success, 1 failure, 2 usage)."""


class DscoderError(Exception):
    """A failure the user should see as one clear line (exit code 1)."""

    exit_code = 1


class UsageError(DscoderError):
    """The command cannot run as asked: bad option, options changed on an existing output (exit 2)."""

    exit_code = 2
