"""The shipped test harness: helpers for tests of Andon and of the services it delivers.

:func:`git` runs git with a fixed identity, so that tests make real commits anywhere
(CI machines have no configured user).
"""

from andon.testing.gitrepos import GIT_IDENTITY, git, make_repo

__all__ = ["GIT_IDENTITY", "git", "make_repo"]
