"""Exceptions the engine raises. Each carries a message a person can act on."""
from __future__ import annotations


class BaselibError(Exception):
    """Base class for every error the engine raises on purpose."""


class CatalogError(BaselibError):
    """A catalog entry is malformed. The message names the file and the field."""


class SourceError(BaselibError):
    """A source could not be read (connection refused, query failed). Worth retrying."""


class SchemaMismatch(BaselibError):
    """The warehouse table and the catalog disagree in a way that cannot be fixed by adding columns."""


class BlockingQualityFailure(BaselibError):
    """A table-level expectation failed: the load must not happen.

    ``checks`` lists ``(check_name, message)`` pairs for the run record and the report.
    """

    def __init__(self, resource_code: str, checks: list[tuple[str, str]]):
        self.resource_code = resource_code
        self.checks = checks
        detail = "; ".join(f"{name}: {message}" for name, message in checks)
        super().__init__(f"{resource_code}: load blocked by table-level quality checks: {detail}")


class UnreadableFile(BaselibError):
    """A delivered file cannot be read as its declared format (wrong encoding, truncated, not
    the format its name says). The file is moved to the rejected area with this message; the
    rest of the drop still loads."""


class SharingError(BaselibError):
    """A sharing request cannot be carried out (an unknown consumer, resource or item, a resource
    that is not shared, a period already over, a decision on an application already decided). The
    message says what was wrong and, where there is one, what is allowed."""


class ReferenceNotLoaded(BaselibError):
    """A critical reference check names a base-library table that does not exist yet (its own
    resource has never loaded, e.g. on a freshly deployed platform where every DAG starts at once).
    Transient: the DAG's extract task raises it before opening a run, so Airflow retries the task
    with its back-off, and the run goes on once the reference has loaded."""
