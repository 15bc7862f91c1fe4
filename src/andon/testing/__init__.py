"""The shipped test harness: helpers for tests of Andon and of the services it delivers.

:func:`git` runs git with a fixed identity, so that tests make real commits anywhere
(CI machines have no configured user). :func:`kill_agent_leftovers` kills what an agent
leaves running on purpose (instances, routers) when a test is done with it. :func:`serve`
runs an Andon app over real HTTP for the length of a block; :func:`bearer` signs a test's
requests in as the server's first admin; :class:`FakeClock` is a time a test sets.
"""

from andon.testing.access import admin_token, bearer, home_bearer, user_bearer
from andon.testing.clocks import FakeClock
from andon.testing.gitrepos import GIT_IDENTITY, git, make_repo
from andon.testing.leftovers import kill_agent_leftovers
from andon.testing.serving import serve

__all__ = [
    "GIT_IDENTITY",
    "FakeClock",
    "admin_token",
    "bearer",
    "git",
    "home_bearer",
    "kill_agent_leftovers",
    "make_repo",
    "serve",
    "user_bearer",
]
