"""Git repositories of registered services: reading andon.yaml and files at a commit of
trunk, never a developer's working copy. Used by the server and the pipeline."""

from andon.repos.git import GitRepository, is_remote

__all__ = ["GitRepository", "is_remote"]
