"""fetch imdb against a tiny archive of the real layout, served by a local HTTP server."""

import csv
import functools
import hashlib
import io
import os
import socket
import subprocess
import sys
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import invoke

from sentiment_cli.data import read_labeled, read_records, read_unlabeled
from sentiment_cli.fetch import IMDB_FILES

# folder -> {file name: text}; file names are ID_RATING.txt as in the real archive.
REVIEWS = {
    "train/pos": {"0_9.txt": 'A great film, with "quotes", commas\nand a second line.',
                  "1_8.txt": "Très bien: naïve café, 東京 ☺", "12_10.txt": "Loved it.<br /><br />Again!"},
    "train/neg": {"0_2.txt": "Dull.\r\nBoring, too.", "3_1.txt": "Awful acting", "7_4.txt": "  Not good  \n"},
    "train/unsup": {"0_0.txt": "unlabeled one", "1_0.txt": "unlabeled\ntwo", "2_0.txt": "unlabeled, \"three\""},
    "test/pos": {"0_10.txt": "Wonderful, \"really\"\nwonderful", "5_7.txt": "Quite nice"},
    "test/neg": {"0_1.txt": "Terrible; ça alors", "9_3.txt": "Bad, bad\rbad"},
}
# Files the archive holds beside the reviews; fetch ignores them.
EXTRAS = {"aclImdb/README": "Large Movie Review Dataset v1.0", "aclImdb/imdb.vocab": "the\nand\n",
          "aclImdb/train/labeledBow.feat": "0:1 1:2\n", "aclImdb/train/urls_pos.txt": "http://example.com\n"}


def one_line(text):
    return text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ").strip()


def make_archive(path, reviews=REVIEWS, extras=EXTRAS):
    """A .tar.gz of the aclImdb layout, test before train (fetch must not depend on the order)."""
    with tarfile.open(path, "w:gz") as tar:
        def add(name, data=None):
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

        add("aclImdb")
        for name, text in extras.items():
            add(name, text.encode("utf-8"))
        for folder in sorted(reviews, reverse=True):
            add(f"aclImdb/{folder}")
            for name, text in reviews[folder].items():
                add(f"aclImdb/{folder}/{name}", text.encode("utf-8"))
    return path


def sha256_of(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Handler(SimpleHTTPRequestHandler):
    release = None  # an Event the /slow path waits for

    def do_GET(self):
        if self.path == "/slow":
            self.release.wait(10)
        return super().do_GET()

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def served(tmp_path):
    """(directory served, base URL): an HTTP server on 127.0.0.1, stopped after the test."""
    root = tmp_path / "www"
    root.mkdir()
    release = threading.Event()
    handler = functools.partial(type("H", (Handler,), {"release": release}), directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def archive(served):
    """(URL, sha256) of the tiny archive."""
    root, base = served
    path = make_archive(root / "aclImdb_v1.tar.gz")
    return f"{base}/aclImdb_v1.tar.gz", sha256_of(path)


def fetch(dest, url, sha256, *more):
    return invoke("fetch", "imdb", "--dest", dest, "--url", url, "--sha256", sha256, *more)


def test_writes_the_four_classic_files(tmp_path, archive):
    dest = tmp_path / "data" / "imdb"  # made, parents too
    result = fetch(dest, *archive)
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(dest)) == sorted(IMDB_FILES)  # no archive, no temporary file
    assert f"next: sentiment-cli train imdb --train {dest / 'training_label.txt'}" in result.stdout
    assert "training_label.txt" in result.stdout and "6 labeled reviews" in result.stdout

    labeled = read_labeled(dest / "training_label.txt")
    expected = {one_line(t): "1" for t in REVIEWS["train/pos"].values()}
    expected.update({one_line(t): "0" for t in REVIEWS["train/neg"].values()})
    assert dict(zip(labeled.texts, labeled.labels)) == expected
    assert len(labeled.texts) == 6
    assert 'A great film, with "quotes", commas and a second line.' in labeled.texts
    assert "Très bien: naïve café, 東京 ☺" in labeled.texts
    lines = (dest / "training_label.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6 and all(line[:10] in ("1 +++$+++ ", "0 +++$+++ ") for line in lines)

    unlabeled = read_unlabeled(dest / "training_nolabel.txt")
    assert sorted(unlabeled) == sorted(one_line(t) for t in REVIEWS["train/unsup"].values())

    test = list(read_records(dest / "testing_data.txt", "test"))
    assert [r.id for r in test] == ["0", "1", "2", "3"]
    assert (dest / "testing_data.txt").read_text(encoding="utf-8").startswith("id,text\n")
    with open(dest / "testing_label.csv", newline="", encoding="utf-8") as handle:
        gold = list(csv.DictReader(handle))
    assert [row["id"] for row in gold] == ["0", "1", "2", "3"]
    truth = {one_line(t): "1" for t in REVIEWS["test/pos"].values()}
    truth.update({one_line(t): "0" for t in REVIEWS["test/neg"].values()})
    # quotes and commas reach the reader as they were: the idtext layout is not CSV-quoted
    assert {r.text: row["label"] for r, row in zip(test, gold)} == truth


def test_the_order_is_fixed(tmp_path, archive):
    assert fetch(tmp_path / "a", *archive).exit_code == 0
    assert fetch(tmp_path / "b", *archive).exit_code == 0
    for name in IMDB_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_wrong_sha256_leaves_nothing(tmp_path, archive):
    url, good = archive
    dest = tmp_path / "imdb"
    result = fetch(dest, url, "0" * 64)
    assert result.exit_code == 1
    assert f"SHA-256 mismatch: expected {'0' * 64}, got {good}" in result.output
    assert "--sha256" in result.output and "Traceback" not in result.output
    assert not dest.exists()  # fetch made it, and removed it on failure


def test_a_failed_fetch_removes_the_directories_it_made_only(tmp_path, archive):
    url = archive[0]
    root = tmp_path / "root"
    root.mkdir()
    dest = root / "data" / "imdb"
    assert fetch(dest, url, "0" * 64).exit_code == 1
    assert os.listdir(root) == []  # data/ and data/imdb/ were made by fetch: both gone
    dest.mkdir(parents=True)
    assert fetch(dest, url, "0" * 64).exit_code == 1
    assert os.listdir(dest) == []  # there before: it stays
    assert fetch(root / "data" / "more" / "imdb", url, "0" * 64).exit_code == 1
    assert sorted(os.listdir(root / "data")) == ["imdb"]  # more/ went, data/ (there before) stays


def test_malformed_sha256_is_a_bad_option(tmp_path, archive):
    result = fetch(tmp_path / "imdb", archive[0], "abc123")
    assert result.exit_code == 2
    assert "Invalid value for '--sha256'" in result.output and "64 hexadecimal digits" in result.output


def test_http_404(tmp_path, served):
    _, base = served
    dest = tmp_path / "imdb"
    result = fetch(dest, f"{base}/missing.tar.gz", "0" * 64)
    assert result.exit_code == 1
    assert f"Error: {base}/missing.tar.gz: HTTP error 404 (File not found)" in result.output
    assert "Traceback" not in result.output
    assert not dest.exists()


def test_connection_refused(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = fetch(tmp_path / "imdb", f"http://127.0.0.1:{port}/a.tar.gz", "0" * 64)
    assert result.exit_code == 1
    assert "cannot download (Connection refused)" in result.output
    assert not (tmp_path / "imdb").exists()


def test_timeout(tmp_path, served):
    _, base = served
    result = fetch(tmp_path / "imdb", f"{base}/slow", "0" * 64, "--timeout", "0.3")
    assert result.exit_code == 1
    assert "no answer within 0.3 s" in result.output
    assert not (tmp_path / "imdb").exists()


def test_not_an_archive(tmp_path, served):
    root, base = served
    page = root / "page.html"
    page.write_text("<html>moved</html>")
    result = fetch(tmp_path / "imdb", f"{base}/page.html", sha256_of(page))
    assert result.exit_code == 1
    assert "not a readable .tar.gz archive" in result.output
    assert not (tmp_path / "imdb").exists()


def test_an_archive_without_the_layout(tmp_path, served):
    root, base = served
    other = make_archive(root / "other.tar.gz", {k: v for k, v in REVIEWS.items() if k != "test/neg"})
    result = fetch(tmp_path / "imdb", f"{base}/other.tar.gz", sha256_of(other))
    assert result.exit_code == 1
    assert "does not have the aclImdb layout: no reviews (NUMBER_RATING.txt) in aclImdb/test/neg/" in result.output
    assert not (tmp_path / "imdb").exists()


def test_existing_files_are_kept_without_overwrite(tmp_path, archive):
    dest = tmp_path / "imdb"
    dest.mkdir()
    (dest / "training_label.txt").write_text("mine\n")
    result = fetch(dest, *archive)
    assert result.exit_code == 1
    assert f"{dest} already holds training_label.txt: pass --overwrite" in result.output
    assert (dest / "training_label.txt").read_text() == "mine\n"
    assert os.listdir(dest) == ["training_label.txt"]
    result = fetch(dest, *archive, "--overwrite")
    assert result.exit_code == 0, result.output
    assert len((dest / "training_label.txt").read_text(encoding="utf-8").splitlines()) == 6


def test_keep_archive_and_use_it_again(tmp_path, archive):
    url, sha = archive
    dest = tmp_path / "imdb"
    result = fetch(dest, url, sha, "--keep-archive")
    assert result.exit_code == 0, result.output
    assert sha256_of(dest / "aclImdb_v1.tar.gz") == sha
    assert "archive kept in" in result.stdout
    # the server is not asked again: a URL nobody answers still works
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = fetch(dest, f"http://127.0.0.1:{port}/aclImdb_v1.tar.gz", sha, "--overwrite")
    assert result.exit_code == 0, result.output
    assert "SHA-256 checked" in result.output
    assert sorted(os.listdir(dest)) == sorted([*IMDB_FILES, "aclImdb_v1.tar.gz"])


def test_leftovers_of_a_killed_fetch_are_removed(tmp_path, archive):
    dest = tmp_path / "imdb"
    dest.mkdir()
    dead = 2**22 + 1  # above Linux's largest process id: no such process
    for name in (f".aclImdb_v1.tar.gz.{dead}.partial", f".training_label.txt.{dead}.partial"):
        (dest / name).write_text("half")
    assert fetch(dest, *archive).exit_code == 0
    assert sorted(os.listdir(dest)) == sorted(IMDB_FILES)


def test_a_local_copy_without_tensorflow(tmp_path):
    """file:// URLs work, and fetch never imports TensorFlow (fresh interpreter)."""
    path = make_archive(tmp_path / "aclImdb_v1.tar.gz")
    probe = ("import sys\nfrom sentiment_cli.cli import cli\ntry:\n    cli(sys.argv[1:], standalone_mode=False)\n"
             "finally:\n    print('IMPORTED' if {'tensorflow', 'keras'} & set(sys.modules) else 'NOT IMPORTED', "
             "file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe, "fetch", "imdb", "--dest", str(tmp_path / "imdb"),
                           "--url", path.as_uri(), "--sha256", sha256_of(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "NOT IMPORTED" in done.stderr
    assert "\r" not in done.stderr  # no bar into a pipe
    assert "wrote" in done.stdout
