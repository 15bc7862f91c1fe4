"""Artifacts: the immutable archive built once per commit, its manifest, the
content-addressed store that keeps it (verified on every use), and safe unpacking.

The pipeline builds and stores them; environments and rollouts verify and unpack them.
"""

from andon.artifacts.building import BuiltArtifact, build_artifact
from andon.artifacts.extracting import UnsafeMemberError, extract
from andon.artifacts.local_store import ArtifactStore, LocalArtifactStore, StoredArtifact
from andon.artifacts.manifests import FileEntry, LockRecord, Manifest, digest_hex, short_digest
from andon.artifacts.unpacking import unpack

__all__ = [
    "ArtifactStore",
    "BuiltArtifact",
    "FileEntry",
    "LocalArtifactStore",
    "LockRecord",
    "Manifest",
    "StoredArtifact",
    "UnsafeMemberError",
    "build_artifact",
    "digest_hex",
    "extract",
    "short_digest",
    "unpack",
]
