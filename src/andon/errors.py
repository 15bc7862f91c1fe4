"""The one exception root of Andon and the tree below it.

Every error Andon raises on purpose derives from :class:`AndonError`; lower-level
errors (YAML, SQLAlchemy, httpx, OS) are translated at the boundary with
``raise ... from exc``. Messages are whole sentences that say what to do next:
the CLI prints ``str(error)`` on one line and exits with ``error.exit_code``.

::

    AndonError
    ├── PermanentError                 retrying the same call cannot help
    │   ├── SpecError                  andon.yaml is invalid (carries every located problem)
    │   ├── UsageError                 a command was called with arguments that cannot work
    │   ├── NotFoundError              a named project, environment, ... does not exist
    │   ├── ConflictError              the thing exists already or is in another state
    │   ├── ConfigurationError         ANDON_* settings or local files are wrong
    │   └── ArtifactError              an artifact cannot be built, stored, verified or unpacked
    └── TemporaryError(delay=...)      the same call may succeed later
        ├── ServerUnreachableError     no Andon server answers at a URL
        ├── StoreUnavailableError      the database cannot be reached
        └── PortInUseError             a port to bind is taken
"""

from __future__ import annotations

__all__ = [
    "AndonError",
    "ArtifactError",
    "ConfigurationError",
    "ConflictError",
    "NotFoundError",
    "PermanentError",
    "PortInUseError",
    "ServerUnreachableError",
    "SpecError",
    "StoreUnavailableError",
    "TemporaryError",
    "UsageError",
]

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from andon.spec import Problem


class AndonError(Exception):
    """Root of every error Andon raises on purpose.

    ``exit_code`` is what the CLI exits with; ``http_status`` what the API answers.
    """

    exit_code: int = 1
    http_status: int = 500
    code: str = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PermanentError(AndonError):
    """Retrying the same call cannot help; the input or the state must change."""


class TemporaryError(AndonError):
    """The same call may succeed later; ``delay`` suggests when to retry, in seconds."""

    exit_code = 2
    http_status = 503
    code = "unavailable"

    def __init__(self, message: str, *, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class SpecError(PermanentError):
    """An andon.yaml is invalid; ``problems`` holds every located problem, in file order."""

    http_status = 422
    code = "invalid_spec"

    def __init__(self, problems: Sequence[Problem], *, path: str = "andon.yaml") -> None:
        self.problems = list(problems)
        self.path = path
        count = len(self.problems)
        noun, them = ("problem", "it") if count == 1 else ("problems", "them")
        super().__init__(f"{path} has {count} {noun}; fix {them} and validate again.")

    def lines(self) -> list[str]:
        """One ``PATH:LINE:COL: message`` line per problem."""
        return [problem.format(self.path) for problem in self.problems]


class UsageError(PermanentError):
    """A command or request was given arguments that cannot work."""

    exit_code = 2
    http_status = 400
    code = "bad_request"


class NotFoundError(PermanentError):
    """A named project, environment, pipeline, ... does not exist."""

    http_status = 404
    code = "not_found"


class ConflictError(PermanentError):
    """The thing exists already, or is in a state that forbids the action."""

    http_status = 409
    code = "conflict"


class UnauthenticatedError(PermanentError):
    """A request carries no token, or one that is unknown, expired or revoked."""

    exit_code = 3
    http_status = 401
    code = "unauthenticated"


class ForbiddenError(PermanentError):
    """The caller is known but their role does not allow the action."""

    exit_code = 3
    http_status = 403
    code = "forbidden"


class ConfigurationError(PermanentError):
    """ANDON_* settings or files under ANDON_HOME are wrong.

    The API answers 503: the server cannot serve the request until it is set up (an
    agent started, a secret set), and nothing in the request is at fault."""

    exit_code = 2
    http_status = 503
    code = "configuration"


class ArtifactError(PermanentError):
    """An artifact cannot be built, stored, verified or unpacked safely.

    The package paths escape the workspace, the disk holding the artifact store is full,
    an artifact no longer matches its manifest, or an archive names a member outside the
    directory it is unpacked into. Rebuilding (or freeing space) is the way forward.
    """

    http_status = 422
    code = "artifact"


class ServerUnreachableError(TemporaryError):
    """No Andon server answers at a URL."""


class StoreUnavailableError(TemporaryError):
    """The database behind the store cannot be reached or opened."""


class PortInUseError(TemporaryError):
    """A port Andon was asked to bind is already taken."""
