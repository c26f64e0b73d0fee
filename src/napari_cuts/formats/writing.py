"""Writing outputs safely (atomic replace, one-line errors) and label images to TIFF."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from napari_cuts.formats.errors import CutsInputError, CutsWriteError


def write_error(path: str | os.PathLike, exc: OSError) -> CutsWriteError:
    """The one-line error for a failed write of the output `path`."""
    if isinstance(exc, CutsWriteError):
        return exc
    reason = exc.strerror or str(exc) or exc.__class__.__name__
    if exc.errno is None and "written" in reason:  # numpy's short write: "N requested and M written"
        reason = f"the disk is full or the file too large ({reason})"
    return CutsWriteError(exc.errno, reason, str(path))


def _missing_dirs(folder: Path) -> list[Path]:
    """`folder` and its ancestors that do not exist yet, innermost first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


#: Temporary files being written now (see :func:`remove_partial_writes`).
_ACTIVE_TEMPS: set[Path] = set()


def remove_partial_writes() -> None:
    """Delete the temporary files of writes in progress (before a process ends abruptly)."""
    for tmp in list(_ACTIVE_TEMPS):
        _remove(tmp)


def _new_temp(path: Path) -> Path:
    """An empty file beside `path`, created with the mode the umask gives (0644 for 022)."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only on success.

    A failure (or an interrupt) removes the temporary file and the folders made for it,
    so nothing half-written is ever left behind. A failed write (full disk, read-only,
    permissions) raises :class:`CutsWriteError` naming `path`. Files get the mode the
    umask allows, as ``open()`` would.
    """
    path = Path(path)
    with _staged(path) as tmp:
        try:
            yield tmp
            os.replace(tmp, path)
        except OSError as exc:
            raise write_error(path, exc) from None
        _ACTIVE_TEMPS.discard(tmp)


@contextmanager
def atomic_write_all(paths, commit=None) -> Iterator[list[Path]]:
    """:func:`atomic_write` for several outputs that exist together or not at all.

    Yields temporary paths beside `paths`; when the block succeeds, all are renamed into
    place inside ``with commit():`` (when given), which may refuse by raising (e.g. a run
    interrupted meanwhile): then, as on any failure, every temporary file is removed and
    no output changes. A rename that fails undoes the renames before it.
    """
    with contextlib.ExitStack() as temps:
        tmps = [temps.enter_context(_staged(Path(p))) for p in paths]
        try:
            yield tmps
        except OSError as exc:  # name the output, not its temporary file
            target = {str(t): p for t, p in zip(tmps, paths)}.get(str(exc.filename), paths[0])
            reason = exc.strerror or str(exc) or exc.__class__.__name__
            raise write_error(target, OSError(exc.errno, reason)) from None
        with commit() if commit is not None else contextlib.nullcontext():
            done: list[Path] = []
            try:
                for tmp, path in zip(tmps, paths):
                    os.replace(tmp, path)
                    done.append(Path(path))
            except BaseException as exc:
                for path in done:
                    _remove(path)
                if isinstance(exc, OSError):
                    raise write_error(paths[len(done)], exc) from None
                raise
            finally:
                for tmp in tmps:
                    _ACTIVE_TEMPS.discard(tmp)


@contextmanager
def _staged(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` (and its folders), removed unless renamed away."""
    made = _missing_dirs(path.parent)
    tmp = None
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = _new_temp(path)
            _ACTIVE_TEMPS.add(tmp)
        except OSError as exc:
            raise write_error(path, exc) from None
        yield tmp
    finally:
        if tmp is not None and tmp.exists():  # not renamed: a failure or a refusal
            _ACTIVE_TEMPS.discard(tmp)
            _remove(tmp)
            for folder in made:
                try:
                    folder.rmdir()  # only if empty
                except OSError:
                    break


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def check_output(path: str | os.PathLike, *, folder: bool = False) -> Path:
    """Refuse, before any work, an output path that cannot be written.

    `folder`: the output is a folder (it may exist); else a file, which must not be an
    existing folder. The nearest existing ancestor must be a writable folder.
    """
    if not str(path).strip():
        raise CutsInputError("the output path is empty")
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise CutsInputError(f"the output folder {path} is a file")
    if not folder and path.is_dir():
        raise CutsInputError(f"the output {path} is a folder; give a file name")
    parent = path if folder else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise CutsInputError(f"cannot write {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CutsInputError(f"cannot write {path}: permission denied for {parent}")
    return path


def label_image(data, what: str = "labels", *, ndims: tuple[int, ...] | None = (2, 3)) -> np.ndarray:
    """Check a label image and return it as integers: the one validator of every face.

    Accepts booleans and integers, and floats that hold finite whole numbers; refuses
    other dtypes, negative labels and (with `ndims`) other numbers of dimensions.
    `what` names the data in messages (e.g. "the mask", "scribbles").
    """
    data = np.asarray(data)
    if ndims is not None and data.ndim not in ndims:
        kinds = {2: "2D (Y, X)", 3: "a stack (Z, Y, X)", 4: "levels of a stack (L, Z, Y, X)"}
        allowed = " or ".join(kinds.get(n, f"{n}D") for n in ndims)
        raise CutsInputError(f"{what} must be {allowed}; got shape {data.shape}")
    if data.dtype == bool:
        return data.astype(np.uint8)
    if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
        raise CutsInputError(f"{what} must hold whole numbers (a label image), not {data.dtype}")
    if not np.issubdtype(data.dtype, np.integer):
        if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
            raise CutsInputError(f"{what} must hold whole numbers (a label image)")
        data = data.astype(np.int64)
    if data.size and np.issubdtype(data.dtype, np.signedinteger) and data.min() < 0:
        raise CutsInputError(f"{what} must not be negative")
    return data


def smallest_label_dtype(max_label: int) -> np.dtype:
    """The smallest unsigned integer dtype that holds `max_label`."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if max_label <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


#: Suffix of a levels file: a TIFF of every level, coarse to fine. napari's builtin reader
#: claims every ``*.tif``, so with this suffix the napari-cuts reader is the only one that
#: claims the file and napari opens it without asking which plugin to use.
LEVELS_SUFFIX = ".cuts"
#: Lossless compression of every label TIFF written (deflate, level 6).
COMPRESSION = "zlib"


def save_labels_tiff(
    path: str | os.PathLike, labels: np.ndarray, *, levels: bool = False, time: bool = False
) -> Path:
    """Write labels to a compressed TIFF atomically (temporary file, then rename).

    Parameters
    ----------
    labels : ndarray
        One label image (Y, X) or (Z, Y, X); or with ``levels=True`` a stack of levels
        (L, Y, X) or (L, Z, Y, X). The axes (levels as T) are recorded in tifffile's
        metadata. Pages are deflate-compressed (lossless): label images shrink about
        50-fold. ImageJ/Fiji open the file as a stack of pages (L, or L x Z for stacks);
        they cannot read compressed ImageJ hyperstacks, so none is written.
    time : bool
        With ``levels=True``: the labels are levels of a time-lapse, (L, T, Y, X) or
        (L, T, Z, Y, X), written with time as time and levels as channels (TCYX or TZCYX).
    """
    path = Path(path)
    labels = label_image(labels, ndims=None)
    dtype = smallest_label_dtype(int(labels.max()) if labels.size else 0)
    data = labels.astype(dtype, copy=False)
    if levels and time:
        data = np.moveaxis(data, 0, -3)
        axes = "TCYX" if data.ndim == 4 else "TZCYX"
    elif levels:
        axes = "TYX" if data.ndim == 3 else "TZYX"
    else:
        axes = "YX" if data.ndim == 2 else "ZYX"
    if data.ndim != len(axes):
        raise CutsInputError(f"cannot write labels of shape {labels.shape} as {axes}")
    import tifffile

    with atomic_write(path) as tmp:
        tifffile.imwrite(tmp, data, metadata={"axes": axes}, compression=COMPRESSION)
    return path


def read_labels_tiff(path: str | os.PathLike) -> np.ndarray:
    """Read labels written by :func:`save_labels_tiff` (or any integer TIFF)."""
    import tifffile

    path = Path(path)
    if not path.is_file():
        raise CutsInputError(f"no such file: {path}")
    return tifffile.imread(path)
