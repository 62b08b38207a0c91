"""Exception hierarchy. Every error says what was wrong and what to do about it."""


class PhysWorldError(Exception):
    """Base class of all errors raised on purpose by PhysWorld."""


class ConfigError(PhysWorldError, ValueError):
    """A configuration value or parameter is missing, of the wrong type or out of range."""


class InputError(PhysWorldError, ValueError):
    """An input (image, depth, task text, file) is invalid."""


class UnknownTaskError(InputError, KeyError):
    """A task name or command that the task suite does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown task"


class ArtefactError(PhysWorldError):
    """An artefact on disk (scene bundle, checkpoint, video) is missing or corrupt."""


class BackendError(PhysWorldError):
    """A backend (remote service, model) failed, timed out or returned garbage."""
