"""Where the data lake lives: a local directory or an S3 bucket and prefix, named by one URL.

Accepted: a plain path (``var/lake``), ``file:///abs/path`` (or ``file:relative``), and
``s3://bucket/prefix`` (``s3a://`` is read the same way). The S3 endpoint is not part of the URL:
boto3 takes it from ``AWS_ENDPOINT_URL`` (MinIO, moto, any S3-compatible server) or uses AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deliverer.usage import UsageError

S3_SCHEMES = ("s3://", "s3a://")


@dataclass(frozen=True)
class LakeLocation:
    """A parsed lake URL: either ``path`` (local) or ``bucket`` + ``prefix`` (S3) is set."""

    path: Path | None = None
    bucket: str | None = None
    prefix: str = ""

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None

    @property
    def url(self) -> str:
        return self.url_for()

    def key(self, *parts: str) -> str:
        """The S3 object key (or key prefix) of ``parts`` under the lake's prefix."""
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p.strip("/"))

    def local_path(self, *parts: str) -> Path:
        if self.path is None:
            raise ValueError(f"{self.url} is an S3 lake, not a local directory")
        return self.path.joinpath(*parts)

    def url_for(self, *parts: str) -> str:
        """``s3://bucket/prefix/parts…`` or the absolute local path of ``parts``."""
        if self.bucket is not None:
            key = self.key(*parts)
            return f"s3://{self.bucket}/{key}" if key else f"s3://{self.bucket}"
        return str(self.local_path(*parts))


def parse_lake_url(url: str) -> LakeLocation:
    """Parse a lake URL; local paths are made absolute so that every worker sees the same place."""
    text = url.strip()
    if not text:
        raise UsageError("the lake URL is empty: use a directory or s3://bucket/prefix")
    for scheme in S3_SCHEMES:
        if text.startswith(scheme):
            bucket, _, prefix = text.removeprefix(scheme).partition("/")
            if not bucket:
                raise UsageError(f"lake URL {url!r} names no bucket: use s3://bucket/prefix")
            return LakeLocation(bucket=bucket, prefix=prefix.strip("/"))
    if text.startswith("file:"):
        text = text.removeprefix("file:")
        if text.startswith("//"):
            text = text.removeprefix("//")
            if not text:
                raise UsageError(f"lake URL {url!r} names no directory")
    elif "://" in text:
        raise UsageError(f"unsupported lake URL {url!r}: use a directory, file:///path or s3://bucket/prefix")
    return LakeLocation(path=Path(text).expanduser().resolve())
