"""File contents by blob id, from a local folder (`--blobs DIR`): The Stack v2 ships metadata only.

The Stack v2's contents are the Software Heritage objects named by `blob_id` (the git blob sha1),
gzip-compressed as they are downloaded. A blob is looked up as `DIR/<id>`, `DIR/<id>.gz`,
`DIR/<id[:2]>/<id>` or `DIR/<id[:2]>/<id>.gz` (lower-case hex), and checked against its id, so a
truncated or swapped download is a rejected row (`blob_mismatch`), never wrong training text.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import zlib
from pathlib import Path

_BLOB_ID = re.compile(r"[0-9a-f]{40}")


class BlobProblem(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class BlobStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)

    def find(self, blob_id: str) -> Path | None:
        for p in (self.root / blob_id, self.root / f"{blob_id}.gz", self.root / blob_id[:2] / blob_id,
                  self.root / blob_id[:2] / f"{blob_id}.gz"):
            if p.is_file():
                return p
        return None

    def read(self, blob_id: str, max_bytes: int) -> bytes:
        """The blob's bytes; raises BlobProblem (malformed_row, missing_blob, too_large,
        blob_mismatch) with a message naming the blob."""
        blob_id = blob_id.strip().lower()
        if not _BLOB_ID.fullmatch(blob_id):  # also what keeps `../` out of the path
            raise BlobProblem("malformed_row", f"blob id {blob_id[:60]!r} is not 40 hex digits")
        path = self.find(blob_id)
        if path is None:
            raise BlobProblem("missing_blob", f"blob {blob_id} not in {self.root} (as <id>, <id>.gz, "
                                              f"{blob_id[:2]}/<id> or {blob_id[:2]}/<id>.gz)")
        try:
            with open(path, "rb") as fh:
                head = fh.read(2)
                fh.seek(0)
                if head == b"\x1f\x8b":
                    with gzip.GzipFile(fileobj=fh) as gz:
                        data = gz.read(max_bytes + 1)  # never more than a kept file: no gzip bomb
                else:
                    data = fh.read(max_bytes + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise BlobProblem("unreadable", f"blob {path}: cannot read ({exc})") from exc
        if len(data) > max_bytes:
            raise BlobProblem("too_large", "")
        if git_blob_sha(data) != blob_id:
            raise BlobProblem("blob_mismatch", f"blob {path}: its content's git blob id is "
                                               f"{git_blob_sha(data)}, not {blob_id}")
        return data
