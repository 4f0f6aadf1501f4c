"""Errors the harness reports as one line and exit code 2."""

from mtl.errors import MtlError


class SpaceError(MtlError):
    """A space file is malformed: it names the file, the key and the problem."""

    def __init__(self, path: str, key: str, problem: str) -> None:
        self.path, self.key, self.problem = path, key, problem
        where = f"{path}: {key}" if key else path
        super().__init__(f"{where}: {problem}")


class StorageError(MtlError):
    """An Optuna storage or MLflow tracking store cannot be reached or used."""
