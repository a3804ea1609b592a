"""The exceptions whose class decides the exit code (0 success, 1 failure, 2 usage error).

Stage and library code raises these; the CLI maps them to a one-line `dscoder: error: …` and the
exit code in one place (`dscoder_cli/errors.py`). Anything else is a bug and keeps its traceback.
Each message names the file, the cause and what to do about it.
"""

from __future__ import annotations

import errno
from pathlib import Path


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


class OutputLocked(UsageError):
    """Another writer (pid and host named) holds this OUTPUT's lock (exit code 2)."""


class IncompleteInput(UsageError):
    """An input folder is a dscoder output whose units are not all done (exit code 2)."""


# errno values that only ever come from writing: never blamed on an input (docs/architecture.md).
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
_DENIED = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


class OutputWriteError(DscoderError):
    """Writing OUTPUT failed (disk full, read-only, permission denied): the run stops, since every
    other unit would fail the same way; what was finished is kept and the same command resumes.
    Build it with `output_write_error(path, exc)`."""


def output_write_error(path: Path | str, exc: OSError) -> OutputWriteError:
    """`cannot write PATH: CAUSE; FIX` for an OSError raised while writing PATH."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        cause = "no space left on device" if exc.errno == errno.ENOSPC else "disk quota exceeded"
        fix = "free space there (or choose another OUTPUT), then re-run the same command to resume"
    elif exc.errno in _DENIED:
        cause = "read-only file system" if exc.errno == errno.EROFS else "permission denied"
        fix = "make OUTPUT writable or choose another OUTPUT"
    elif exc.errno == errno.EFBIG:
        cause, fix = "file too large for this file system", "choose another OUTPUT"
    else:
        cause = exc.strerror or str(exc)
        fix = "check the output file system, then re-run the same command to resume"
    return OutputWriteError(f"cannot write {path}: {cause}; {fix}")


def is_write_error(exc: BaseException) -> bool:
    """An OSError that can only have come from writing (disk full, quota, read-only, too large)."""
    return isinstance(exc, OSError) and not isinstance(exc, DscoderError) and exc.errno in WRITE_ERRNOS
