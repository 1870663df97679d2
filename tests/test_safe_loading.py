"""Model files are checked against what our models contain before Keras reads them (safety.py).

The crafted archives start from a real run's best.keras with its config.json rewritten, the
way an attacker would: a Lambda layer (Python bytecode), a TFSMLayer (an outside SavedModel)
and function references (os.system, builtins.exec, keras.config.enable_unsafe_deserialization).
Each must be refused before keras.saving.load_model is called: the tests replace it with one
that fails the test.
"""

import ast
import io
import json
import shutil
import struct
import subprocess
import sys
import zipfile

import h5py
import keras
import numpy as np
import pytest
from helpers import TINY, invoke, write_labeled

from sentiment_cli import npmodel, runs, safety
from sentiment_cli.config import TrainConfig
from sentiment_cli.errors import RunError
from sentiment_cli.model import build_model
from sentiment_cli.tokenizer import Tokenizer

VOCAB = 12


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two tiny runs made by the CLI: "demo" (hybrid, the default) and "bag" (bow)."""
    root = tmp_path_factory.mktemp("safe")
    labeled = write_labeled(root / "train.txt")
    for name, extra in (("demo", []), ("bag", ["--model", "bow"])):
        result = invoke("train", name, "--train", labeled, "--models-dir", root / "models", *TINY, *extra)
        assert result.exit_code == 0, result.output
    return root / "models"


@pytest.fixture
def keras_never_loads(monkeypatch):
    def fail(*args, **kwargs):
        pytest.fail(f"keras.saving.load_model was called on a refused file: {args}")

    monkeypatch.setattr(keras.saving, "load_model", fail)


def rewrite(src, dst, edit):
    """Copy the .keras archive ``src`` to ``dst`` with ``edit`` applied to its config.json."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            if info.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            new.writestr(info, data)
    return dst


def layer(config, name):
    """The serialized layer ``name`` of the classifier inside the text model."""
    classifier = next(entry for entry in config["config"]["layers"] if entry["class_name"] == "Functional")
    return next(entry for entry in classifier["config"]["layers"] if entry["config"]["name"] == name)


def replace_layer(config, name, serialized):
    entry = layer(config, name)
    entry.update({key: serialized[key] for key in ("module", "class_name", "config", "registered_name")})


def with_lambda(config):
    # what Keras itself writes for a Lambda layer: the function as marshalled Python bytecode
    replace_layer(config, "output", keras.saving.serialize_keras_object(keras.layers.Lambda(lambda x: x * 2,
                                                                                            name="output")))


def with_tfsmlayer(config):
    replace_layer(config, "output", {
        "module": "keras.layers", "class_name": "TFSMLayer", "registered_name": None,
        "config": {"name": "output", "trainable": False, "filepath": "/tmp/outside_saved_model",
                   "call_endpoint": "serving_default", "call_training_endpoint": None}})


def with_os_system(config):  # CVE-2025-1550: any module's function, here as an activation
    layer(config, "output")["config"]["activation"] = {
        "module": "os", "class_name": "function", "config": "system", "registered_name": "system"}


def with_builtins_exec(config):
    layer(config, "head")["config"]["kernel_initializer"] = {
        "module": "builtins", "class_name": "function", "config": "exec", "registered_name": "function"}


def with_safe_mode_off(config):  # CVE-2025-9906: a Keras function that turns safe_mode off
    config["config"]["layers"][1]["config"]["dtype"] = {
        "module": "keras.config", "class_name": "function", "config": "enable_unsafe_deserialization",
        "registered_name": "enable_unsafe_deserialization"}


CRAFTED = {
    "lambda": (with_lambda, "class Lambda of module keras.layers in 'output'"),
    "tfsmlayer": (with_tfsmlayer, "class TFSMLayer of module keras.layers in 'output'"),
    "os.system": (with_os_system, "function os.system in 'output'"),
    "builtins.exec": (with_builtins_exec, "function builtins.exec in 'head'"),
    "safe-mode-off": (with_safe_mode_off, "function keras.config.enable_unsafe_deserialization in 'text_to_ids'"),
}


def assert_refused(message, path, named):
    assert message.startswith(f"{path}: ") and named in message, message
    assert "was not made by sentiment-cli" in message and "do not load it; train the run again" in message


@pytest.mark.parametrize("case", list(CRAFTED))
def test_a_crafted_model_file_is_refused_before_keras_reads_it(trained, tmp_path, keras_never_loads, case):
    edit, named = CRAFTED[case]
    path = rewrite(trained / "demo" / runs.MODEL_FILE, tmp_path / "evil.keras", edit)
    for text in (False, True):
        with pytest.raises(RunError) as info:
            runs.load_model(path, text=text)
        assert_refused(str(info.value), path, named)


def test_a_lambda_model_made_by_keras_is_refused_before_keras_reads_it(tmp_path, keras_never_loads):
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2, name="double")(inputs))
    model.save(tmp_path / "evil.keras")
    with pytest.raises(RunError) as info:
        runs.load_model(tmp_path / "evil.keras")
    # the layer first, then what it holds
    assert_refused(str(info.value), tmp_path / "evil.keras",
                   "class Lambda of module keras.layers in 'double' (and 1 more)")
    assert any("__lambda__" in found for found in safety.disallowed(safety.read_model_config(tmp_path / "evil.keras")))


@pytest.mark.parametrize("case", ["lambda", "tfsmlayer", "os.system"])
def test_cli_refuses_a_run_holding_a_crafted_model(trained, tmp_path, keras_never_loads, case):
    edit, named = CRAFTED[case]
    models = tmp_path / "models"
    shutil.copytree(trained / "demo", models / "demo")
    model_file = models / "demo" / runs.MODEL_FILE
    rewrite(trained / "demo" / runs.MODEL_FILE, model_file, edit)
    result = invoke("test", "demo", "--input", "-", "--output", "-", "--models-dir", models, input="great fun\n")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert_refused(lines[0][len("Error: "):], model_file, named)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("damage", ["no config.json", "config.json not JSON", "not a zip"])
def test_an_unreadable_config_is_damage_and_keras_never_reads_it(trained, tmp_path, keras_never_loads, damage):
    path = tmp_path / "m.keras"
    if damage == "not a zip":
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))  # an HDF5 (legacy .h5) header: never loaded
    else:
        with zipfile.ZipFile(trained / "demo" / runs.MODEL_FILE) as old, zipfile.ZipFile(path, "w") as new:
            for info in old.infolist():
                if info.filename == "config.json":
                    if damage == "no config.json":
                        continue
                    new.writestr(info, b'{"module": "keras.src.models.functional", "class_name": ')
                else:
                    new.writestr(info, old.read(info))
    with pytest.raises(RunError) as info:
        runs.load_model(path)
    message = str(info.value)
    assert message.startswith(f"{path}: damaged, truncated or not a Keras model (")
    assert {"no config.json": "no config.json", "config.json not JSON": "not valid JSON",
            "not a zip": "not a readable zip"}[damage] in message
    assert "train the run again" in message


def test_runs_made_by_the_cli_pass_and_load(trained):
    for name in ("demo", "bag"):
        path = trained / name / runs.MODEL_FILE
        assert safety.disallowed(safety.read_model_config(path)) == []
        run = runs.load_run(trained, name)
        assert run.model.outputs[0].shape[-1] == 1


BUILDS = {
    "rnn gru unidirectional 2 layers last": dict(model="rnn", cell="gru", bidirectional=False, layers=2,
                                                 pooling="last"),
    "rnn lstm sum mean": dict(model="rnn", merge_mode="sum", pooling="mean"),
    "hybrid mul, n-grams read more (KeepTokens)": dict(merge_mode="mul", max_length=3, ngram_max_length=20),
    "ngram, three classes": dict(model="ngram", labels=["a", "b", "c"]),
    "bow counts": dict(model="bow", bow_mode="counts"),
    "bow tfidf, three classes": dict(model="bow", labels=["a", "b", "c"]),
    "frozen embeddings file, tweets": dict(model="rnn", embeddings="v.txt", pretrain_embeddings=False,
                                           freeze_embeddings=True, normalize="tweets"),
    "no dropout, ave": dict(model="rnn", dropout=0.0, merge_mode="ave"),
}


@pytest.mark.parametrize("kind", list(BUILDS))
def test_every_model_kind_the_project_builds_passes_the_allow_list(tmp_path, kind):
    options = {"labels": ["0", "1"], "embedding_dim": 4, "hidden_size": 4, "ngram_buckets": 64, **BUILDS[kind]}
    config = TrainConfig(**options)
    tokenizer = Tokenizer(["", "[UNK]"] + [f"w{i}" for i in range(2, VOCAB)], normalize=config.normalize)
    embeddings = np.ones((VOCAB, 4), dtype="float32") if config.embeddings else None
    model = build_model(config, vocab_size=VOCAB, embeddings=embeddings, idf=np.ones(VOCAB))
    runs.save_model(tmp_path / "m.keras", model, tokenizer, config)
    assert safety.disallowed(safety.read_model_config(tmp_path / "m.keras")) == []
    assert_arrays_as_expected(tmp_path / "m.keras")
    loaded = runs.load_model(tmp_path / "m.keras")
    x = np.array([[2, 3, 4, 0]], dtype="int32")
    assert np.allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), atol=1e-6)


def test_an_unknown_activation_name_is_refused():
    config = {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
              "config": {"name": "dense", "activation": "exec"}}
    assert safety.disallowed(config) == ["activation function 'exec' in 'dense'"]
    assert safety.disallowed({**config, "config": {"name": "dense", "activation": "relu"}}) == []


def test_names_from_the_file_cannot_break_the_message_line():
    found = safety.disallowed({"module": "x\ny", "class_name": "Evil\nError: fine", "config": {"name": "a\nb"}})
    assert len(found) == 1 and "\n" not in found[0]


def test_the_safety_module_imports_neither_tensorflow_nor_keras():
    tree = ast.parse(open(safety.__file__, encoding="utf-8").read())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "contextlib", "io", "json", "math", "re", "struct", "zipfile", "pathlib",
                        "typing", "h5py", "numpy", "sentiment_cli.errors", "sentiment_cli.config",
                        "sentiment_cli.rules"}


# ---- the archive and its weights (safety.open_model): refused before either engine reads an array ----

WEIGHTS = "model.weights.h5"
HEAD_BIAS = "layers/functional/layers/dense/vars/1"  # the "head" Dense layer's bias: (2,) in the tiny runs


def assert_arrays_as_expected(path):
    """The guard's arrays are exactly the file's datasets, with their shapes and dtypes."""
    with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read(WEIGHTS)), "r") as handle:
        datasets = {}
        handle.visititems(lambda name, item: datasets.update({name: (item.shape, str(item.dtype))})
                          if isinstance(item, h5py.Dataset) else None)
    with safety.open_model(path) as model_file:
        assert {name: (shape, dtype) for name, (shape, dtype, _) in model_file.arrays.items()} == datasets


def rewrite_weights(src, dst, edit=None, extra=None, drop=None, compress=False, pad=0):
    """Copy the .keras archive ``src`` to ``dst`` with ``edit`` applied to its opened weights file,
    the member ``drop`` left out, ``extra`` members added, or its weights member followed by ``pad``
    zero bytes (and deflated)."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for info in old.infolist():
            if info.filename == drop:
                continue
            data = old.read(info)
            if info.filename == WEIGHTS and edit is not None:
                buffer = io.BytesIO(data)
                with h5py.File(buffer, "r+") as handle:
                    edit(handle)
                data = buffer.getvalue()
            if info.filename == WEIGHTS and pad:
                padded = zipfile.ZipInfo(WEIGHTS)
                padded.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
                with new.open(padded, "w") as member:
                    member.write(data)
                    for _ in range(pad >> 20):
                        member.write(bytes(1 << 20))
                continue
            new.writestr(info, data)
        for name, data in (extra or {}).items():
            new.writestr(name, data)
    return dst


def declare_huge_unused_array(handle):
    # a chunked dataset with no chunk written: 4 TiB declared, nothing stored, the file stays tiny
    handle.create_dataset("layers/functional/layers/dense/vars/2", shape=(1 << 20, 1 << 20), dtype="float32",
                          chunks=(64, 64))


def bias_of_another_shape(handle):
    del handle[HEAD_BIAS]
    handle.create_dataset(HEAD_BIAS, data=[0.0, 0.0, 0.0], dtype="float32")


def bias_linked_outside(handle):
    del handle[HEAD_BIAS]
    handle[HEAD_BIAS] = h5py.ExternalLink("/elsewhere/weights.h5", "/bias")


def bias_stored_in_one_gzip_chunk(handle):
    # the (2,) bias re-stored chunked and deflated: one chunk of 2^22 floats (16 MiB) for 2 values
    del handle[HEAD_BIAS]
    handle.create_dataset(HEAD_BIAS, shape=(2,), maxshape=(None,), dtype="float32", chunks=(1 << 22,),
                          compression="gzip", compression_opts=9)[...] = [0.5, -0.5]


def bias_without_shape(handle):
    del handle[HEAD_BIAS]
    handle.create_dataset(HEAD_BIAS, data=h5py.Empty("f4"))


def run_with_model(trained, tmp_path, **changes):
    """A copy of the "demo" run whose best.keras is rewritten (``rewrite_weights``); its models directory."""
    models = tmp_path / "models"
    shutil.copytree(trained / "demo", models / "demo")
    rewrite_weights(trained / "demo" / runs.MODEL_FILE, models / "demo" / runs.MODEL_FILE, **changes)
    return models


def assert_one_line_refusal(result, path, named):
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: refused, "), result.output
    assert named in lines[0] and "Traceback" not in result.output


CRAFTED_WEIGHTS = {
    "unused-array": (  # declared (2^20, 2^20) float32
        dict(edit=declare_huge_unused_array),
        "holds an array no layer uses, 'layers/functional/layers/dense/vars/2' (declared (1048576, 1048576) float32)"),
    "shape": (  # a weight whose shape disagrees with the config
        dict(edit=bias_of_another_shape),
        f"declares '{HEAD_BIAS}' of layer 'head' as (3,) float32, where the config implies (2,) float32"),
    "external-link": (
        dict(edit=bias_linked_outside), f"its weights file links '{HEAD_BIAS}' elsewhere (ExternalLink)"),
    "member-name": (
        dict(drop="metadata.json", extra={"../metadata.json": b"{}"}),
        "the archive holds a member named '../metadata.json'"),
    "member-count": (
        dict(extra={"assets/notes.txt": b"x"}), "the archive has 4 members, more than the 3 Keras writes"),
    "chunked": (  # a compression bomb inside the HDF5 file: Keras writes every array whole, uncompressed
        dict(edit=bias_stored_in_one_gzip_chunk),
        f"its weights file stores '{HEAD_BIAS}' in chunks (compressed or extensible)"),
    "no-shape": (  # h5py.Empty: an array with no shape at all
        dict(edit=bias_without_shape),
        f"declares '{HEAD_BIAS}' of layer 'head' as None float32, where the config implies (2,) float32"),
}


@pytest.mark.parametrize("case", list(CRAFTED_WEIGHTS))
def test_cli_test_refuses_a_crafted_archive_in_one_line(trained, tmp_path, keras_never_loads, case):
    options, named = CRAFTED_WEIGHTS[case]
    models = run_with_model(trained, tmp_path, **options)
    for engine in ("auto", "numpy", "tensorflow"):
        result = invoke("test", "demo", "--input", "-", "--output", "-", "--models-dir", models, "--engine", engine,
                        input="great fun\n")
        assert_one_line_refusal(result, models / "demo" / runs.MODEL_FILE, named)


@pytest.mark.parametrize("case", list(CRAFTED_WEIGHTS))
def test_both_engines_refuse_a_crafted_archive(trained, tmp_path, keras_never_loads, case):
    options, named = CRAFTED_WEIGHTS[case]
    models = run_with_model(trained, tmp_path, **options)
    for engine in ("numpy", "tensorflow"):
        with pytest.raises(RunError, match="refused, ") as info:
            runs.load_run(models, "demo", engine=engine)
        assert named in str(info.value) and "\n" not in str(info.value)


def test_export_refuses_a_crafted_archive(trained, tmp_path, keras_never_loads):
    options, named = CRAFTED_WEIGHTS["unused-array"]
    models = run_with_model(trained, tmp_path, **options)
    result = invoke("export", "demo", tmp_path / "exported", "--models-dir", models)
    assert_one_line_refusal(result, models / "demo" / runs.MODEL_FILE, named)
    assert not (tmp_path / "exported").exists()


def test_an_unused_array_is_never_read(trained, tmp_path, monkeypatch):
    path = rewrite_weights(trained / "demo" / runs.MODEL_FILE, tmp_path / "m.keras", declare_huge_unused_array)
    read, original = [], h5py.Dataset.__getitem__

    def spy(self, key):
        read.append(self.name)
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    try:
        npmodel.load(path)
        refusal = None
    except RunError as exc:
        refusal = str(exc)
    assert "/layers/functional/layers/dense/vars/2" not in read
    assert read == [] and refusal is not None and "an array no layer uses" in refusal


PEAK = """
import resource, sys
from sentiment_cli.cli import cli
try:
    cli(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, file=sys.stderr)  # KiB on Linux: MiB
sys.exit(code)
"""
# Linux keeps a process's peak memory across exec (getrusage(2)): a child started by this test
# process, which holds TensorFlow, would start at its peak. A small Python between them starts clean.
RELAY = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def refused_in_little_memory(models, path, named):
    """`test` of the run "demo" in ``models`` stops with one line naming ``path`` and ``named``
    (exit 1), its peak memory under 300 MB."""
    done = subprocess.run([sys.executable, "-c", RELAY, sys.executable, "-c", PEAK, "test", "demo",
                           "--models-dir", str(models), "--input", "-", "--output", "-", "-q"],
                          input="great fun\n", capture_output=True, text=True, timeout=300)
    *lines, peak = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: refused, ") and named in lines[0], lines
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert int(peak) < 300, f"peak memory {peak} MB"


def test_a_weights_member_that_inflates_to_400_mb_is_refused_in_little_memory(trained, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(trained / "demo", models / "demo")
    path = models / "demo" / runs.MODEL_FILE
    rewrite_weights(trained / "demo" / runs.MODEL_FILE, path, pad=400 << 20, compress=True)
    assert path.stat().st_size < 2 << 20  # zeros deflate about 1,000 times
    refused_in_little_memory(models, path, f"its {WEIGHTS} inflates from ")


def lie_about_compressed_size(path):
    """Patch the central directory of the archive at ``path``: its weights member's compressed size
    becomes an eighth of its size (under MAX_RATIO), whatever it really is."""
    raw = bytearray(path.read_bytes())
    at = raw.find(b"PK\x01\x02")
    while at >= 0:
        length = struct.unpack_from("<H", raw, at + 28)[0]
        if bytes(raw[at + 46:at + 46 + length]) == WEIGHTS.encode():
            size = struct.unpack_from("<I", raw, at + 24)[0]
            struct.pack_into("<I", raw, at + 20, size // 8)
        at = raw.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(raw))


def test_a_directory_that_lies_about_a_members_compressed_size_is_refused_in_little_memory(trained, tmp_path):
    # 300 MB of deflated zeros in a 324 KB archive whose directory claims 37 MB of compressed data
    models = tmp_path / "models"
    shutil.copytree(trained / "demo", models / "demo")
    path = models / "demo" / runs.MODEL_FILE
    rewrite_weights(trained / "demo" / runs.MODEL_FILE, path, pad=300 << 20, compress=True)
    lie_about_compressed_size(path)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(WEIGHTS)
        assert info.file_size <= safety.MAX_RATIO * info.compress_size and path.stat().st_size < 1 << 20
    refused_in_little_memory(models, path, f"its {WEIGHTS} claims {info.compress_size} compressed bytes, ")


def test_a_member_is_read_no_further_than_its_ratio_allows(tmp_path):
    # the second line behind _members' checks: reading counts what it inflates and stops at MAX_RATIO
    # times the compressed size the directory gives, whatever the data inflates to
    member = zipfile.ZipInfo(WEIGHTS)
    member.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as archive, archive.open(member, "w") as out:
        out.write(bytes(64 << 20))
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        info = archive.getinfo(WEIGHTS)
        info.compress_size //= 2  # 64 MiB inflate from its first half: 32 KiB
        with pytest.raises(zipfile.BadZipFile, match="inflates past"):
            safety._read_member(archive, info)


def with_config(src, dst, text: bytes):
    """Copy the .keras archive ``src`` to ``dst`` with ``text`` as its config.json (stored)."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for info in old.infolist():
            new.writestr(info, text if info.filename == "config.json" else old.read(info))
    return dst


def test_a_config_of_millions_of_empty_lists_is_refused_in_little_memory(trained, tmp_path):
    # 15 MiB of "[]," parse into about 25 bytes of Python objects per byte: refused before json.loads
    models = tmp_path / "models"
    shutil.copytree(trained / "demo", models / "demo")
    path = models / "demo" / runs.MODEL_FILE
    with_config(trained / "demo" / runs.MODEL_FILE, path, b"[" + b"[]," * (5 << 20) + b"[]]")
    refused_in_little_memory(models, path, "its config.json holds 5242882 lists and objects, more than ")


def test_a_config_far_larger_than_the_project_writes_is_refused(trained, tmp_path):
    text = json.dumps(["word"] * ((33 << 20) >> 3)).encode()  # 33 MiB: 35 times an IMDB run's 955 KB
    path = with_config(trained / "demo" / runs.MODEL_FILE, tmp_path / "m.keras", text)
    with pytest.raises(RunError, match=r"refused, its config.json is \d+ bytes, more than the \d+ a model holds"):
        safety.check_model_file(path)


def dense_archive(path, count, stored):
    """An archive of ``count`` Dense(512 -> 512) layers, each kernel declared as the config implies:
    ``stored`` "never" (no byte written), or "shared" (every kernel's layout pointing at the first's
    data, each storing all the bytes it declares)."""
    layers = [{"module": "keras.layers", "class_name": "Dense", "registered_name": None,
               "config": {"name": f"d{i}", "units": 512, "dtype": "float32"},
               "build_config": {"input_shape": [None, 512]}} for i in range(count)]
    config = {"module": "keras.src.models.functional", "class_name": "Functional",
              "registered_name": "Functional", "config": {"name": "m", "layers": layers}}
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        for i in range(count):
            folder = "dense" if i == 0 else f"dense_{i}"
            if stored == "shared" and i == 0:
                first = handle.create_dataset(f"layers/{folder}/vars/0", data=np.ones((512, 512), "float32"))
                offset = first.id.get_offset()
            else:
                handle.create_dataset(f"layers/{folder}/vars/0", shape=(512, 512), dtype="float32")
            handle.create_dataset(f"layers/{folder}/vars/1", data=np.zeros(512, "float32"))
    weights = bytearray(buffer.getvalue())
    if stored == "shared":  # an unwritten array's layout: no address (all ones), then its size
        unwritten, size = struct.pack("<QQ", 2 ** 64 - 1, 512 * 512 * 4), 512 * 512 * 4
        assert weights.count(unwritten) == count - 1
        weights = weights.replace(unwritten, struct.pack("<QQ", offset, size))
    with zipfile.ZipFile(path, "w") as archive:  # stored, as Keras writes
        archive.writestr("config.json", json.dumps(config))
        archive.writestr(WEIGHTS, bytes(weights))
    return path


@pytest.mark.parametrize("stored, named", [
    ("never", "its weights file declares 'layers/dense/vars/0' as 1048576 bytes but stores 0"),
    ("shared", "its weights file declares 21012480 bytes of arrays in a member of "),  # kernels and biases
])
def test_arrays_that_declare_more_than_the_file_holds_are_refused(tmp_path, stored, named):
    # "never": 150 MiB of fill values from a 15 KB archive; "shared": 20 MiB of arrays from one
    # MiB of data (20 kernels, each layout pointing at the same bytes)
    path = dense_archive(tmp_path / "m.keras", 150 if stored == "never" else 20, stored)
    assert path.stat().st_size < 2 << 20
    with pytest.raises(RunError) as info:
        safety.check_model_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: refused, ") and named in message and "\n" not in message, message


def build_config_not_a_dict(config):
    layer(config, "head")["build_config"] = "x"


def dtype_policy_without_a_config(config):
    layer(config, "head")["config"]["dtype"] = {"module": "keras", "class_name": "DTypePolicy",
                                                "registered_name": None, "config": "x"}


def bidirectional_wrapping_a_string(config):
    classifier = next(entry for entry in config["config"]["layers"] if entry["class_name"] == "Functional")
    recurrent = next(entry for entry in classifier["config"]["layers"] if entry["class_name"] == "Bidirectional")
    recurrent["config"]["layer"] = "x"


@pytest.mark.parametrize("edit", [build_config_not_a_dict, dtype_policy_without_a_config,
                                  bidirectional_wrapping_a_string])
def test_a_config_of_the_wrong_structure_is_refused_in_one_line(trained, tmp_path, keras_never_loads, edit):
    models = tmp_path / "models"
    shutil.copytree(trained / "demo", models / "demo")
    path = rewrite(trained / "demo" / runs.MODEL_FILE, models / "demo" / runs.MODEL_FILE, edit)
    for engine in ("numpy", "tensorflow"):
        result = invoke("test", "demo", "--input", "-", "--output", "-", "--models-dir", models, "--engine", engine,
                        input="great fun\n")
        assert_one_line_refusal(result, path, "its config does not describe a model sentiment-cli builds")


def test_every_array_a_run_writes_is_contiguous_and_stored_whole(trained):
    for name in ("demo", "bag"):
        with zipfile.ZipFile(trained / name / runs.MODEL_FILE) as archive, \
                h5py.File(io.BytesIO(archive.read(WEIGHTS)), "r") as handle:
            datasets = []
            handle.visititems(lambda _, item: datasets.append(item) if isinstance(item, h5py.Dataset) else None)
            assert datasets and all(item.chunks is None and item.compression is None for item in datasets)
            assert all(item.id.get_storage_size() == item.size * item.dtype.itemsize for item in datasets)


def test_a_good_run_passes_the_guard_and_both_engines_agree(trained):
    texts = ["great fun movie", "i hate it", "so so", "love love love it", "zzz unknown words"]
    for name in ("demo", "bag"):
        assert_arrays_as_expected(trained / name / runs.MODEL_FILE)
        numpy_run, keras_run = runs.load_run(trained, name, engine="numpy"), runs.load_run(trained, name)
        seqs = numpy_run.tokenizer.encode_arrays(texts, engine="numpy")
        ids = np.zeros((len(seqs), max(map(len, seqs))), dtype="int32")
        for i, seq in enumerate(seqs):
            ids[i, :len(seq)] = seq
        expected = np.asarray(keras_run.model(ids, training=False))
        assert np.allclose(numpy_run.model(ids), expected, rtol=1e-5, atol=1e-6)
        assert len(set(expected.ravel().round(6))) > 1  # the texts differ


def test_every_layer_class_allowed_has_its_weights_known():
    layers = {class_name for module, class_name, _ in safety.ALLOWED_OBJECTS
              if module and (module.startswith("keras.layers") or module.startswith("sentiment_cli")
                             or class_name == "NotEqual")}
    assert layers <= set(safety.LAYER_ARRAYS)
