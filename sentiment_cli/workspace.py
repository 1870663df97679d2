"""A run in progress: the one workspace that `train` and `semi` share.

``models/.NAME.work/`` holds everything a run needs to be resumed, in one format:

- ``owner.json``: the process that works in it. The directory is created exclusively, and a
  second process refuses to enter it while that one lives.
- ``inputs.json``: what the run reads and asks for, recorded once when it starts: each data file
  with its path, sha256, format, columns and bad-line policy; the options; the label set; the
  validation split as the hashes of its texts. A resume compares the inputs it is given with
  these and refuses any change, naming the old and the new value.
- ``state.json``: the last committed state (epochs of `train`, rounds of `semi`). Its atomic
  write is the commit point; the files it names (arrays, models) are written before it.
- ``run/``: the finished run's files, renamed to ``models/NAME`` by ``install``, which never
  replaces a run that appeared there while this one worked.

Committed work is never deleted because of an error: a workspace is discarded only when nothing
was committed in it, or when the run is installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
from pathlib import Path

from sentiment_cli import runs
from sentiment_cli.errors import RunError, SentimentError, disk_full, no_room

SUFFIX = ".work"
OWNER_FILE = "owner.json"
INPUTS_FILE = "inputs.json"
STATE_FILE = "state.json"
FINISHED_FILE = "finished.json"  # run/ is complete: what is left is to install it
RUN_DIR = "run"
VERSION = 1


def work_path(models_dir, name: str) -> Path:
    """models_dir/.NAME.work, for a valid run name."""
    final = runs.run_path(models_dir, name)
    return final.with_name(f".{name}{SUFFIX}")


def models_dir_option(models_dir) -> str:
    """' --models-dir DIR' for a command that continues work kept outside the default models/."""
    import shlex

    return "" if Path(models_dir) == Path("models") else f" --models-dir {shlex.quote(str(models_dir))}"


def file_sha256(path) -> str:
    """sha256 of a file's bytes, as ``sha256sum`` prints it."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def changes(stored, given, prefix: str = "") -> list[str]:
    """What differs between two JSON-like values, as 'key: old -> new' lines (nested keys dotted)."""
    if isinstance(stored, dict) and isinstance(given, dict):
        out = []
        for key in list(stored) + [k for k in given if k not in stored]:
            out += changes(stored.get(key), given.get(key), f"{prefix}{'.' if prefix else ''}{key}")
        return out
    if stored != given:
        return [f"{prefix}: {_short(stored)} -> {_short(given)}"]
    return []


def _restrict(stored, given):
    """stored, keeping only the keys that given has (nested dicts likewise)."""
    if not isinstance(stored, dict) or not isinstance(given, dict):
        return stored
    return {k: _restrict(stored.get(k), v) for k, v in given.items()}


def _short(value) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


class Workspace:
    """A run in progress in models_dir/.NAME.work; see the module's docstring.

    Open it with ``start`` (a new run) or ``reopen`` (``--resume``). ``replaceable`` is the
    identity of the finished run that this process was allowed to replace (``--overwrite``),
    taken when it opened the workspace: ``install`` replaces that one and no other.
    """

    def __init__(self, path: Path, final: Path, kind: str, replaceable: tuple | None):
        self.path, self.final, self.kind, self.replaceable = path, final, kind, replaceable

    # ---- opening ----
    @classmethod
    def start(cls, models_dir, name: str, kind: str, overwrite: bool) -> "Workspace":
        """A new, empty workspace, created exclusively; refuses a finished run of that name unless
        ``overwrite``, and interrupted work unless ``overwrite`` (which discards it)."""
        final = runs.run_path(models_dir, name)
        path = work_path(models_dir, name)
        if final.exists() and not overwrite:
            raise RunError(f"run {name!r} already exists in {final.parent}: pass --overwrite to replace it, "
                           "or choose another name")
        if path.exists():
            _refuse_if_owned(path, name)
            if _committed(path) and not overwrite:
                raise RunError(f"an interrupted {_kind_of(path) or ''} run {name!r} is in {path}: pass --resume to "
                               "continue it, or --overwrite to start again")
            shutil.rmtree(path)  # nothing committed (a kill before the first commit), or --overwrite
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir()
        except FileExistsError:
            raise RunError(f"another process started {name!r} at the same moment: wait for it, or choose "
                           "another name") from None
        try:
            runs.write_json_atomic(path / OWNER_FILE, {"pid": os.getpid(), "kind": kind, "version": VERSION})
        except OSError as exc:
            shutil.rmtree(path, ignore_errors=True)
            if no_room(exc):
                raise disk_full(exc, final.parent) from None
            raise
        return cls(path, final, kind, _identity(final) if overwrite else None)

    @classmethod
    def reopen(cls, models_dir, name: str, kind: str, overwrite: bool = False) -> "Workspace":
        """The interrupted workspace of ``name``, taken over by this process."""
        final = runs.run_path(models_dir, name)
        path = work_path(models_dir, name)
        if not path.is_dir():
            raise RunError(f"nothing to resume: no interrupted run {name!r} in {final.parent}. Start without "
                           "--resume")
        _refuse_if_owned(path, name)
        if not _committed(path):
            raise RunError(f"{path} holds no committed step: nothing to resume. Start "
                           "again with --overwrite")
        found = _kind_of(path)
        if found != kind:
            raise RunError(f"{path} holds an interrupted {found or 'run of an unknown kind'}, not a {kind} run: "
                           f"resume it with 'sentiment-cli {found or kind} ... --resume', or start again with "
                           "--overwrite")
        if final.exists() and not overwrite:
            raise RunError(f"run {name!r} already exists in {final.parent}: pass --overwrite (with --resume) to "
                           "replace it once the work is finished, or remove it")
        runs.write_json_atomic(path / OWNER_FILE, {"pid": os.getpid(), "kind": kind, "version": VERSION})
        return cls(path, final, kind, _identity(final) if overwrite else None)

    # ---- inputs ----
    def record_inputs(self, inputs: dict) -> None:
        """What the run reads and asks for; written once, before the first commit."""
        runs.write_json_atomic(self.path / INPUTS_FILE, inputs)

    def inputs(self) -> dict:
        return runs.read_json(self.path / INPUTS_FILE)

    def check_inputs(self, given: dict, hint: str = "") -> None:
        """Refuse a resume whose inputs differ from the recorded ones, naming each change; only the
        keys that ``given`` has are compared (nested dicts likewise)."""
        found = changes(_restrict(self.inputs(), given), given)
        if found:
            raise RunError(f"{self.path} is resumed with the data and options it started with; these differ "
                           f"(recorded -> now): {'; '.join(found)}. {hint or 'Give the same ones'}, or start "
                           "again with --overwrite")

    # ---- state ----
    def commit(self, state: dict) -> None:
        """The commit point: one atomic write of the state (the files it names are written first)."""
        runs.write_json_atomic(self.path / STATE_FILE, state)

    def state(self) -> dict | None:
        return runs.read_json(self.path / STATE_FILE) if (self.path / STATE_FILE).exists() else None

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def run_dir(self) -> Path:
        """Where the finished run's files are written before ``install``."""
        path = self.path / RUN_DIR
        path.mkdir(exist_ok=True)
        return path

    # ---- the end ----
    def finished(self) -> bool:
        """Whether run/ is complete (an install was refused): a resume only installs it."""
        return (self.path / FINISHED_FILE).is_file()

    def install(self) -> Path:
        """Rename the finished run into place and remove the workspace.

        A run there that this process was not allowed to replace (none was given with --overwrite,
        or another one appeared while it worked) is never replaced: the work stays, resumable,
        also that of a run that committed no step on its way (an n-gram model has no epochs).
        """
        runs.write_json_atomic(self.path / FINISHED_FILE, {"run": RUN_DIR})
        final = self.final
        if final.exists() and _identity(final) != self.replaceable:
            raise RunError(f"run {final.name!r} appeared in {final.parent} while this one worked; it was left as "
                           f"it is, and this work stays in {self.path}: finish it in its place with --resume "
                           "--overwrite, or remove the other run and resume")
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}-")
            os.replace(final, old)
        try:
            os.rename(self.path / RUN_DIR, final)
        except OSError:
            if old is not None and not final.exists():
                os.replace(old, final)
            if final.exists():
                raise RunError(f"run {final.name!r} was created in {final.parent} by another process at the same "
                               f"moment; this work stays in {self.path} (--resume --overwrite finishes it)") from None
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(self.path, ignore_errors=True)
        return final

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    @contextlib.contextmanager
    def guard(self, resume_command: str):
        """Keep committed work when the block fails, and say how to go on; discard it otherwise.

        An error of ours (bad input, a refusal) before anything was committed would only repeat,
        so the workspace goes; after a commit the work is kept whatever stopped it (Ctrl-C, a crash,
        a refusal to install), and the command that continues it is printed.
        """
        try:
            yield self
        except BaseException as exc:
            committed = _committed(self.path)
            if self.replaceable is not None:  # the run it replaces is still there: a resume needs it too
                resume_command += " --overwrite"
            if not committed:
                self.discard()
            if no_room(exc):  # one line, whose fix (after freeing space) is to run again or to resume
                then = (f"continue the {self.kind} run, whose committed work is kept in {self.path}: "
                        f"{resume_command}") if committed else "run again"
                raise disk_full(exc, self.final.parent, then) from None
            if committed:
                what = "stopped" if isinstance(exc, (KeyboardInterrupt, SentimentError)) else "crashed"
                print(f"\n{self.kind} run {self.final.name!r} {what}; its committed work is kept in {self.path}. "
                      f"Continue it with: {resume_command}", file=sys.stderr)
            raise


def unfinished(models_dir) -> list[dict]:
    """The workspaces in models_dir, for `list`: each run's name, kind, path, state ("interrupted",
    "working" while its process lives, or "not started": killed before its first commit) and the
    command that goes on with it."""
    base = Path(models_dir)
    if not base.is_dir():
        return []
    found = []
    for path in base.iterdir():
        name = path.name[1:-len(SUFFIX)] if path.name.startswith(".") and path.name.endswith(SUFFIX) else ""
        if name and path.is_dir():
            found.append(_unfinished(models_dir, name, path))
    return sorted(found, key=lambda work: work["run"])


def unfinished_message(models_dir, name: str) -> str | None:
    """What to say of ``name`` when it is no finished run but its workspace is there; else None."""
    path = work_path(models_dir, name)
    if not path.is_dir():
        return None
    work = _unfinished(models_dir, name, path)
    if work["state"] == "working":
        return f"{name} is being made right now ({work['kind'] or 'a run'} in {path}): wait for it to finish"
    if work["state"] == "not started":
        return (f"{name} was interrupted before its first step was committed, so there is nothing to resume "
                f"({path}): start it again with the command that started it")
    return f"{name} is interrupted: resume it with `{work['command']}`"


def _unfinished(models_dir, name: str, path: Path) -> dict:
    kind = _kind_of(path)
    try:
        pid = runs.read_json(path / OWNER_FILE).get("pid") if (path / OWNER_FILE).is_file() else None
    except SentimentError:
        pid = None
    state = ("working" if pid and pid != os.getpid() and runs.process_alive(pid)
             else "interrupted" if _committed(path) else "not started")
    return {"run": name, "kind": kind, "path": str(path), "state": state,
            "command": _resume_command(models_dir, name, path, kind) if state == "interrupted" else None}


def _resume_command(models_dir, name: str, path: Path, kind: str | None) -> str:
    """The command that resumes the work of ``name`` (`semi`'s names its base run)."""
    import shlex

    command = f"sentiment-cli {kind or 'train'} {shlex.quote(name)}"
    if kind == "semi":
        try:
            base = Path(runs.read_json(path / INPUTS_FILE)["base"]["path"])
            shown = base.name if base.parent == Path(models_dir).resolve() else str(base)
        except (SentimentError, KeyError, TypeError):
            shown = "BASE"
        command = f"sentiment-cli semi {shlex.quote(shown)} --output-run {shlex.quote(name)}"
    # a finished run of that name (an interrupted `train NAME --overwrite`) is replaced only with --overwrite
    overwrite = " --overwrite" if (Path(models_dir) / name).is_dir() else ""
    return command + " --resume" + overwrite + models_dir_option(models_dir)


def _identity(path: Path) -> tuple | None:
    """What tells one run directory from another that replaced it at the same path (not its times:
    `evaluate` writes into a run, which is no reason to refuse replacing it)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_dev, stat.st_ino)


def _committed(path: Path) -> bool:
    return (path / STATE_FILE).is_file() or (path / FINISHED_FILE).is_file()


def _kind_of(path: Path) -> str:
    owner = path / OWNER_FILE
    try:
        kind = runs.read_json(owner).get("kind") if owner.is_file() else None
    except SentimentError:
        kind = None
    return kind if kind in ("train", "semi", "tune") else None


def _refuse_if_owned(path: Path, name: str) -> None:
    owner = path / OWNER_FILE
    try:
        pid = runs.read_json(owner).get("pid") if owner.is_file() else None
    except SentimentError:
        pid = None
    if pid and pid != os.getpid() and runs.process_alive(pid):
        raise RunError(f"{name!r} is being worked on by process {pid} right now ({path}): wait for it, or "
                       "choose another name")
