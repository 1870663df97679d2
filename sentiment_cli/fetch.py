"""Download a public data set and write it in the files sentiment-cli reads by default.

The archive streams to a temporary file in the destination while its SHA-256 is computed, is
checked before anything is read from it, and is converted straight from the compressed tar
stream (nothing is extracted to disk). The output files are written under temporary names and
renamed into place only once all of them are complete, so a failure, Ctrl-C or a kill never
leaves a half-written file; temporary files of a killed fetch carry its process id and are
removed by the next one.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import os
import random
import re
import socket
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from sentiment_cli.errors import ConfigError, FetchError
from sentiment_cli.runs import clean_leftovers

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
# As listed (with the size, 84,125,825 bytes) in TensorFlow Datasets' checksums for
# imdb_reviews: tensorflow_datasets/datasets/imdb_reviews/checksums.tsv.
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"

TRAIN_LABELED_FILE = "training_label.txt"
TRAIN_UNLABELED_FILE = "training_nolabel.txt"
TEST_DATA_FILE = "testing_data.txt"
TEST_LABEL_FILE = "testing_label.csv"
IMDB_FILES = (TRAIN_LABELED_FILE, TRAIN_UNLABELED_FILE, TEST_DATA_FILE, TEST_LABEL_FILE)

# The archive's folders: (split, folder) -> the label written for it (None: unlabeled).
IMDB_FOLDERS = {("train", "pos"): "1", ("train", "neg"): "0", ("train", "unsup"): None,
                ("test", "pos"): "1", ("test", "neg"): "0"}
_MEMBER = re.compile(r"(?:\./)?aclImdb/(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt")
_LINE_BREAK = re.compile(r"\r\n|[\r\n]")

# Each file is shuffled with this seed, from the archive's order sorted by folder and review
# number: the same archive always gives the same files, and any slice of a file (a validation
# split, the first N lines) holds both classes.
SHUFFLE_SEED = 0
CHUNK = 1 << 20


@dataclass
class FetchResult:
    dest: Path
    rows: dict = field(default_factory=dict)  # path of each file written -> its rows (header not counted)
    archive: Path | None = None  # the archive, when it stays in dest
    downloaded: bool = True  # False: an archive already in dest was used
    empty: int = 0  # empty reviews left out


def check_sha256(value: str) -> str:
    """The checksum in lower case; ConfigError unless it is 64 hexadecimal digits."""
    value = (value or "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ConfigError(f"{value!r} is not a SHA-256 checksum: give its 64 hexadecimal digits "
                          "(sha256sum FILE prints them)")
    return value


def fetch_imdb(dest="data/imdb", url: str = IMDB_URL, sha256: str = IMDB_SHA256, *, overwrite: bool = False,
               keep_archive: bool = False, timeout: float = 60, progress: bool = True) -> FetchResult:
    """Download the Large Movie Review Dataset, check it, and write the four classic files into dest.

    training_label.txt ``LABEL +++$+++ TEXT`` (1 positive, 0 negative), training_nolabel.txt
    one text a line, testing_data.txt ``id,text`` (idtext: the text unquoted after the first
    comma), testing_label.csv ``id,label``. Line breaks inside a review become spaces.
    """
    sha256 = check_sha256(sha256)
    dest = Path(dest)
    finals = [dest / name for name in IMDB_FILES]
    existing = [path.name for path in finals if path.exists()]
    if existing and not overwrite:
        raise FetchError(f"{dest} already holds {', '.join(existing)}: pass --overwrite to replace them, "
                         "or choose another --dest")
    made = _missing_directories(dest)  # removed again if the fetch fails: a failure leaves no empty --dest
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_empty(made)
        raise FetchError(f"{dest}: cannot make the directory ({exc.strerror or exc}). Choose another --dest") from None
    name = _archive_name(url)
    for leftover in (name, *IMDB_FILES):
        clean_leftovers(dest, f".{leftover}.", ".partial")
    archive = dest / name
    pid = os.getpid()
    partial = dest / f".{name}.{pid}.partial"
    temporary = {path: path.with_name(f".{path.name}.{pid}.partial") for path in finals}
    result = FetchResult(dest)
    done = False
    try:
        source = archive if _matches(archive, sha256) else None
        if source is None:
            if archive.exists():
                _say(progress, f"{archive} does not match the expected SHA-256: downloading again")
            _download(url, partial, sha256, timeout, progress)
            source = partial
        else:
            result.downloaded = False
            _say(progress, f"using {archive} (SHA-256 checked)")
        records, result.empty = _read_archive(source, url if source == partial else str(archive), progress)
        rows = _write_files(records, temporary)
        appeared = [path.name for path in finals if path.exists()]
        if appeared and not overwrite:  # made by someone else while this fetch ran
            raise FetchError(f"{dest}: {', '.join(appeared)} appeared while this fetch ran and were left as they "
                             "are; pass --overwrite to replace them, or choose another --dest")
        for path, tmp in temporary.items():
            os.replace(tmp, path)
            result.rows[path] = rows[path.name]
        if source == partial and keep_archive:
            os.replace(partial, archive)
        if source == archive or keep_archive:
            result.archive = archive
        done = True
    except OSError as exc:
        raise FetchError(f"{getattr(exc, 'filename', None) or dest}: cannot read or write ({exc.strerror or exc}). "
                         "Free some disk space, or choose another --dest") from None
    finally:
        for tmp in (partial, *temporary.values()):
            tmp.unlink(missing_ok=True)
        if not done:
            _remove_empty(made)
    return result


def _missing_directories(path: Path) -> list[Path]:
    """path and those of its parents that do not exist, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _remove_empty(directories: list[Path]) -> None:
    """Remove the directories (deepest first) that are still empty; one that is not stays."""
    for directory in directories:
        try:
            directory.rmdir()
        except OSError:
            return


def _archive_name(url: str) -> str:
    name = os.path.basename(urllib.parse.urlparse(url).path)
    # an archive named like one of the files it becomes would be replaced by that file
    return name if name and name not in (".", "..", *IMDB_FILES) else "aclImdb_v1.tar.gz"


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr)


def _bar(progress: bool, total, desc: str):
    # Only on a terminal: into a file, a bar's carriage returns make one unreadable line.
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                disable=not progress or not sys.stderr.isatty(), mininterval=0.5, dynamic_ncols=True)


def _matches(path: Path, sha256: str) -> bool:
    if not path.is_file():
        return False
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest() == sha256


def _download(url: str, path: Path, sha256: str, timeout: float, progress: bool) -> None:
    """Stream url into path, hashing as it comes; FetchError unless all of it came and it matches
    (the caller removes path)."""
    fix = "Check the network and the URL, or give a mirror with --url (and its --sha256)"
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "sentiment-cli"})
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: HTTP error {exc.code} ({exc.reason}). {fix}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            reason = f"no answer within {timeout:g} s"
        elif isinstance(reason, OSError) and reason.strerror:
            reason = reason.strerror
        raise FetchError(f"{url}: cannot download ({reason}). {fix}") from None
    except (TimeoutError, socket.timeout):
        raise FetchError(f"{url}: no answer within {timeout:g} s. {fix}") from None
    except ValueError as exc:  # not a URL at all
        raise FetchError(f"{url}: not a URL urllib can open ({exc}). Give an http(s):// or file:// URL") from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"{url}: cannot download ({exc}). {fix}") from None
    digest = hashlib.sha256()
    received = 0
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        _say(progress, f"downloading {url}" + (f" ({total / 2**20:.1f} MiB)" if total else ""))
        with open(path, "wb") as out, _bar(progress, total, "download") as bar:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    reason = f"no data for {timeout:g} s" if isinstance(exc, (TimeoutError, socket.timeout)) else exc
                    raise FetchError(f"{url}: the download broke off after {received:,} bytes ({reason}). "
                                     "Run the command again") from None
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise FetchError(f"{url}: the download broke off after {received:,} of {total:,} bytes. Run the command again")
    got = digest.hexdigest()
    if got != sha256:
        raise FetchError(f"{url}: SHA-256 mismatch: expected {sha256}, got {got} ({received:,} bytes). The download "
                         "is damaged or not the archive expected: run the command again; for a mirror that serves "
                         "another archive, pass its checksum with --sha256")


class _Counted:
    """A binary file that moves a progress bar by the bytes read from it."""

    def __init__(self, handle, bar):
        self.handle = handle
        self.bar = bar

    def read(self, size=-1):
        data = self.handle.read(size)
        self.bar.update(len(data))
        return data


def _read_archive(path: Path, url: str, progress: bool) -> tuple[dict, int]:
    """The reviews of each folder as (review number, text), sorted by number; and the count of empty ones.

    Reads the tar stream member by member ("r|gz"): nothing is extracted to disk. url names the
    archive in messages.
    """
    found = {folder: [] for folder in IMDB_FOLDERS}
    names = []  # the first few members, for an error message
    empty = 0
    with open(path, "rb") as handle, _bar(progress, path.stat().st_size, "convert") as bar:
        try:
            with tarfile.open(fileobj=_Counted(handle, bar), mode="r|gz") as tar:
                for member in tar:
                    if len(names) < 5:
                        names.append(member.name)
                    match = _MEMBER.fullmatch(member.name)
                    if not match or not member.isfile() or (match[1], match[2]) not in found:
                        continue
                    data = tar.extractfile(member).read()
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise FetchError(f"{url}: {member.name} is not UTF-8 (byte {exc.start + 1}). The archive "
                                         "is not the one expected: check --url") from None
                    text = _LINE_BREAK.sub(" ", text).strip()
                    if not text:
                        empty += 1
                        continue
                    found[(match[1], match[2])].append((int(match[3]), text))
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise FetchError(f"{url}: not a readable .tar.gz archive ({exc}). Check that --url points to "
                             "aclImdb_v1.tar.gz or a copy of it") from None
    missing = [f"aclImdb/{split}/{folder}/" for (split, folder), reviews in found.items() if not reviews]
    if missing:
        seen = ", ".join(names) if names else "nothing"
        raise FetchError(f"{url}: the archive does not have the aclImdb layout: no reviews (NUMBER_RATING.txt) in "
                         f"{', '.join(missing)} (it starts with: {seen}). Check that --url points to "
                         "aclImdb_v1.tar.gz or a copy of it")
    for reviews in found.values():
        reviews.sort()
    return found, empty


def _shuffled(rows: list) -> list:
    random.Random(SHUFFLE_SEED).shuffle(rows)
    return rows


def _write_files(found: dict, temporary: dict) -> dict:
    """Write the four files to their temporary names; rows written per file name."""
    paths = {path.name: tmp for path, tmp in temporary.items()}

    def labeled(split):
        return _shuffled([(IMDB_FOLDERS[(split, folder)], text) for folder in ("pos", "neg")
                          for _, text in found[(split, folder)]])

    train, test = labeled("train"), labeled("test")
    unlabeled = _shuffled([text for _, text in found[("train", "unsup")]])
    with open(paths[TRAIN_LABELED_FILE], "w", encoding="utf-8", newline="") as out:
        out.writelines(f"{label} +++$+++ {text}\n" for label, text in train)
    with open(paths[TRAIN_UNLABELED_FILE], "w", encoding="utf-8", newline="") as out:
        out.writelines(f"{text}\n" for text in unlabeled)
    # The idtext layout that `test` reads by default: everything after the first comma is the
    # text, as it is (CSV quoting would put the quotes into the text).
    with open(paths[TEST_DATA_FILE], "w", encoding="utf-8", newline="") as out:
        out.write("id,text\n")
        out.writelines(f"{number},{text}\n" for number, (_, text) in enumerate(test))
    with open(paths[TEST_LABEL_FILE], "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", "label"])
        writer.writerows((number, label) for number, (label, _) in enumerate(test))
    return {TRAIN_LABELED_FILE: len(train), TRAIN_UNLABELED_FILE: len(unlabeled), TEST_DATA_FILE: len(test),
            TEST_LABEL_FILE: len(test)}
