"""One error hierarchy for the library, the hub server and the CLI.

Every error zoolab raises on purpose derives from :class:`ZoolabError`. Each class carries

- ``http_status``: the status the hub server answers with,
- ``error_code``: the Hugging Face ``X-Error-Code`` header value, when the Hub protocol has one
  (stock ``huggingface_hub`` clients map it onto their own typed errors),
- ``exit_code``: what the CLI exits with after printing the message as one line on stderr.

Messages are written for the person reading them: say what went wrong and, where there is one,
the fix ("run `zoolab login`", "pass --revision", "install zoolab[tf]").
"""

from __future__ import annotations


class ZoolabError(Exception):
    """Base class of every error zoolab raises on purpose."""

    http_status: int = 400
    error_code: str | None = None
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


# --- bad input ---------------------------------------------------------------------------------
class InvalidInputError(ZoolabError, ValueError):
    """An argument, file or request body is malformed."""

    http_status = 400
    exit_code = 2


class InvalidRepoIdError(InvalidInputError):
    """A repository id is not ``namespace/name`` with allowed characters."""


class InvalidRevisionError(InvalidInputError):
    """A branch, tag or revision name is not allowed."""


class InvalidPathError(InvalidInputError):
    """A file path inside a repository is unsafe or malformed (``..``, absolute, NUL, ...)."""


class PathTraversalError(InvalidPathError):
    """A file path that leaves the repository when its backslashes are read as separators (as
    Windows clients do): answered ``422 Unprocessable Entity``, as the Hub does."""

    http_status = 422


class InvalidCardError(InvalidInputError):
    """A model card's YAML metadata is malformed or has an invalid field."""


class IntegrityError(InvalidInputError):
    """Bytes do not match the hash or size they were announced with."""


class PayloadTooLargeError(InvalidInputError):
    """A request body or upload exceeds the configured limit."""

    http_status = 413


class UnsupportedMediaTypeError(InvalidInputError):
    """A request has the wrong content type."""

    http_status = 415


# --- missing things ----------------------------------------------------------------------------
class NotFoundError(ZoolabError, LookupError):
    """Something that was asked for does not exist (or is not visible to the caller)."""

    http_status = 404


class RepoNotFoundError(NotFoundError):
    """The repository does not exist, or is private and the caller may not see it."""

    http_status = 404
    error_code = "RepoNotFound"


class RevisionNotFoundError(NotFoundError):
    """The branch, tag or commit does not exist in the repository."""

    error_code = "RevisionNotFound"


class EntryNotFoundError(NotFoundError):
    """The file does not exist at that revision."""

    error_code = "EntryNotFound"


class ModelNotFoundError(NotFoundError):
    """A model name is neither a catalog entry, a repo id nor a local folder."""


class EnvNotFoundError(NotFoundError):
    """A gymnasium environment id is not registered."""


# --- access ------------------------------------------------------------------------------------
class AuthenticationError(ZoolabError):
    """No valid token was given where one is required."""

    http_status = 401


class PermissionDeniedError(ZoolabError):
    """The caller is known but may not do this (for example write outside its namespace)."""

    http_status = 403


# --- state -------------------------------------------------------------------------------------
class ConflictError(ZoolabError):
    """The request conflicts with the current state (exists already, moved head, ...)."""

    http_status = 409


class StaleParentError(ConflictError):
    """A commit names a parent that is no longer its branch's head: ``412 Precondition Failed``, as
    the Hub answers (clients fetch the new head and retry)."""

    http_status = 412

    def __init__(self, branch: str, head: str, parent: str):
        super().__init__("The branch was updated since you opened this page. Please refresh and try again.",
                         hint=f"branch '{branch}' is at {head}, not {parent}; fetch the latest revision and retry")


class RepoExistsError(ConflictError):
    """A repository with that id exists already."""


class RefExistsError(ConflictError):
    """A branch or tag with that name exists already."""


# --- environment -------------------------------------------------------------------------------
class ConfigError(ZoolabError):
    """The zoolab configuration (sources, settings files) is invalid or names something unknown."""


class OfflineError(ZoolabError):
    """Offline mode is on, or the source cannot be reached, and the cache does not hold the file."""

    http_status = 503


class SourceUnavailableError(ZoolabError):
    """A remote source did not answer in time or answered with a server error."""

    http_status = 502


class DependencyMissingError(ZoolabError):
    """An optional dependency needed for this feature is not installed."""


class UnsupportedError(ZoolabError):
    """The request is valid but this model, framework or algorithm cannot do it."""


class TrainingError(ZoolabError):
    """Training had to stop (for example a NaN loss); the message says what was kept."""


def require(module: str, extra: str) -> None:
    """Raise :class:`DependencyMissingError` if ``module`` cannot be imported.

    ``extra`` names the zoolab extra that installs it, so the message can say how to fix it.
    """
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise DependencyMissingError(
            f"this needs the Python package '{module}', which is not installed",
            hint=f"pip install 'zoolab[{extra}]'",
        )
