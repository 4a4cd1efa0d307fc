"""s3opt's transfer engine: multipart uploads, ranged downloads, copies, resume state.

Private to :class:`s3opt.S3Store` except for the names re-exported here,
which tools may use directly (the resume state format, the part arithmetic).
"""

from s3opt.transfer.context import TransferStats as TransferStats
from s3opt.transfer.parts import multipart_etag as multipart_etag
from s3opt.transfer.resume import ResumeState as ResumeState
from s3opt.transfer.resume import ResumeStateError as ResumeStateError

__all__ = ["ResumeState", "ResumeStateError", "TransferStats", "multipart_etag"]
