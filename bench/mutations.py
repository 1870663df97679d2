"""Tests that can fail: apply one defect to a copy of the library, run the tests that must catch
it, and print whether they did. Each row is a change the project's tests are meant to notice.

    python bench/mutations.py [WORD ...]    (only the defects whose name has one of the words)

The repository is copied to a temporary directory first (sentiment_cli/, tests/, data/), so the
working tree is never changed; the copy's package is the one imported there.

A verdict needs a working control: the named tests must first pass on the unchanged copy, or the
script stops with "no verdict" (exit 1), since with a broken environment (no TensorFlow, say)
every mutant would fail its tests for that reason alone. A defect counts as caught only when
one of its named tests fails on an assertion (pytest exit code 1, a <failure> in its JUnit XML
report raised by ``assert``, a NumPy assertion or ``pytest.fail``/``pytest.raises``), not
when a test crashes with another exception, errors in a fixture, or the tests cannot be
collected (exit codes 2-4).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# name: (file, text to replace (found exactly once), replacement, tests that must fail)
DEFECTS = {
 "labels shuffled in every fit": ("sentiment_cli/training.py",
    "    val_rows = encoder.rows(data.val_texts, data.val_y) if validated else Rows([], np.zeros(0, np.int32))\n",
    "    val_rows = encoder.rows(data.val_texts, data.val_y) if validated else Rows([], np.zeros(0, np.int32))\n    train_rows = Rows(train_rows.seqs, np.random.default_rng(0).permutation(train_rows.y))\n",
    ["tests/test_learning.py"]),
 "semi pseudo-labels inverted": ("sentiment_cli/semi/rounds.py",
    "    data = TrainData(rounds.data.train_texts, rounds.data.train_y, rounds.data.val_texts, rounds.data.val_y,\n                     extra=extra)",
    "    extra = {k: (t, 1 - np.asarray(y)) for k, (t, y) in extra.items()}\n    data = TrainData(rounds.data.train_texts, rounds.data.train_y, rounds.data.val_texts, rounds.data.val_y,\n                     extra=extra)",
    ["tests/test_semi.py::test_semi_learns_from_its_pseudo_labels"]),
 "semi never rolls a round back": ("sentiment_cli/semi/rounds.py",
    "    accepted = not worse\n",
    "    accepted = True\n",
    ["tests/test_semi.py::test_a_bad_round_is_rolled_back"]),
 "semi --judge cv ignores the labeled rows": ("sentiment_cli/semi/rounds.py",
    "    if rounds.job.semi.judge != \"cv\":\n        return evidence\n",
    "    if True:\n        return evidence\n",
    ["tests/test_semi_judge.py::test_judge_cv_rolls_back_a_round_of_inverted_pseudo_labels"]),
 "split differs between train and semi": ("sentiment_cli/semi/rounds.py",
    "    if record is not None:\n        split = split_by_hashes",
    "    if False:\n        split = split_by_hashes",
    ["tests/test_semi.py::test_the_split_follows_the_texts_when_the_file_is_edited"]),
 "n-gram ratios zeroed": ("sentiment_cli/fit/ngram.py",
    "    weighed = int(np.count_nonzero(ratios.any(axis=1)))\n",
    "    layer.ratio.assign(np.zeros(layer.ratio.shape, dtype='float32'))\n    weighed = int(np.count_nonzero(ratios.any(axis=1)))\n",
    ["tests/test_learning.py"]),
 # the stored options that set no array's shape (the defaults' sizes make a resume crash on the
 # stored weights: a crash, which counts as no verdict of a test)
 "resume ignores the stored options": ("sentiment_cli/training.py",
    '    job = TrainJob.from_options(models_dir, name, stored["options"])',
    '    job = TrainJob.from_options(models_dir, name, {**stored["options"], **{k: v for k, v in TrainConfig().to_dict().items() if k in ("lr", "seed", "dropout")}})',
    ["tests/test_robustness.py::test_train_resumes_to_the_same_result"]),
 "test writes its rows in another order": ("sentiment_cli/predict.py",
    "            for j, (record, label, p) in enumerate(zip(chunk, predicted, probs)):",
    "            for j, (record, label, p) in enumerate(list(zip(chunk, predicted, probs))[::-1]):",
    ["tests/test_cli_predict.py"]),
 "the split drawn by rows": ("sentiment_cli/encoding.py",
    "    val_groups = np.concatenate(val) if val else np.zeros(0, dtype=np.int64)\n",
    "    val_groups = np.unique(groups.of_row[stratified_split(y, val_ratio, seed)[1]])\n",
    ["tests/test_split.py::test_frequent_texts_are_not_over_represented_in_validation",
     "tests/test_split.py::test_a_class_of_two_texts_with_ten_copies_each_trains"]),
 "label issues use in-fold probabilities": ("sentiment_cli/label_issues.py",
    "        train, held = np.flatnonzero(fold != k), np.flatnonzero(fold == k)\n",
    "        train, held = np.arange(len(fold)), np.flatnonzero(fold == k)\n",
    ["tests/test_label_issues.py::test_no_leak_a_rows_own_label_does_not_move_its_probability"]),
 "label issues flag a row whose given label is the likeliest": ("sentiment_cli/label_issues.py",
    "    issue[issue] &= p[issue, suggested[issue]] > given[issue]",
    "    issue[issue] &= True",
    ["tests/test_label_issues.py::test_a_row_whose_given_label_is_likeliest_is_not_flagged"]),
 "label issues of a model at chance count as a finding": ("sentiment_cli/label_issues.py",
    "        return not self.accuracy >= self.majority + MIN_LIFT\n",
    "        return False\n",
    ["tests/test_label_issues.py::test_a_model_at_chance_lists_rows_without_a_finding"]),
 "safety accepts an unused array": ("sentiment_cli/safety.py",
    "        elif name not in expected:\n            problems.append(",
    "        elif name not in expected:\n            pass\n        elif False:\n            problems.append(",
    ["tests/test_safe_loading.py::test_an_unused_array_is_never_read",
     "tests/test_safe_loading.py::test_both_engines_refuse_a_crafted_archive[unused-array]"]),
 "probabilities out of input order": ("sentiment_cli/npmodel.py",
    "        out[idx] = probs\n",
    "        out[np.sort(idx)] = probs\n",
    ["tests/test_cli_predict.py", "tests/test_learning.py"]),
 "semi resume starts from the base model": ("sentiment_cli/semi/rounds.py",
    '            model = runs.load_model(workspace.file(state["model_file"]))\n',
    "            model = base.model\n",
    ["tests/test_semi.py::test_a_hybrid_semi_run_resumes_from_its_kept_round"]),
 "npmodel backward direction ignores lengths": ("sentiment_cli/npmodel.py",
    "    reverse = np.clip(lengths[:, None] - 1 - np.arange(steps)[None, :], 0, max(steps - 1, 0))\n",
    "    reverse = np.clip(steps - 1 - np.arange(steps)[None, :] + 0 * lengths[:, None], 0, max(steps - 1, 0))\n",
    ["tests/test_npmodel.py::test_numpy_computes_what_keras_computes[hybrid bilstm mean]"]),
 "explain flips an n-gram weight's sign": ("sentiment_cli/explain.py",
    "                    weight = value * scale\n",
    "                    weight = -value * scale\n",
    ["tests/test_explain.py::test_ngram_contributions_add_up_to_the_halfs_logit"]),
 "suggest ranks the texts the other way": ("sentiment_cli/suggest.py",
    "    return first, np.lexsort((np.arange(len(first)), -second, -first))\n",
    "    return first, np.lexsort((np.arange(len(first)), -second, -first))[::-1]\n",
    ["tests/test_suggest.py::test_each_ranking_puts_its_own_measure_first"]),
 "semi on a cross-validated run ignores the out-of-fold figures": ("sentiment_cli/semi/rounds.py",
    '        evidence = {"out-of-fold": (new_val, kept_val, rounds.judged_y())}\n',
    '        evidence = {"out-of-fold": (kept_val, kept_val, rounds.judged_y())}\n',
    ["tests/test_oof_decisions.py::test_semi_accepts_and_rolls_back_by_the_out_of_fold_figures"]),
 "tune trials on a split where train would cross-validate": ("sentiment_cli/tune.py",
    "                                               folds=job.folds),\n",
    '                                               folds="off"),\n',
    ["tests/test_oof_decisions.py::test_tune_scores_a_cross_validated_trial_by_its_out_of_fold_accuracy"]),
 "the numpy engine ignores the character n-grams": ("sentiment_cli/npmodel.py",
    "        rows = ngram_rows(ids, vocab_size, ngram, buckets, char_buckets)\n",
    "        rows = ngram_rows(ids, vocab_size, ngram, buckets)\n",
    ["tests/test_subword.py::test_both_engines_agree_on_texts_full_of_unknown_words"]),
 "character n-grams read the unknown token, not the word": ("sentiment_cli/tokenizer.py",
    "                out.append(pack(ids, char_buckets_of(kept, high, buckets) if high else np.zeros(0, np.int64),\n",
    "                out.append(pack(ids, char_buckets_of([t if t in index else OOV_TOKEN for t in kept], high, buckets) if high else np.zeros(0, np.int64),\n",
    ["tests/test_subword.py::test_both_engines_and_the_model_layer_pack_the_same_ids"]),
 "an unknown word keeps the unknown vector (subword vectors)": ("sentiment_cli/model.py",
    "        return tf.where(tf.reshape(counts > 0, tf.shape(vectors)[:2])[:, :, None], made, vectors)\n",
    "        return vectors\n",
    ["tests/test_subword_vectors.py::test_an_unseen_misspelling_moves_the_network_as_its_word"]),
 "the numpy engine ignores the subword vectors": ("sentiment_cli/npmodel.py",
    "        return unknown_word_vectors(vectors, ids, table, projection, buckets, offset, max_length, truncating)\n",
    "        return vectors\n",
    ["tests/test_subword_vectors.py::test_both_engines_agree_on_texts_full_of_unknown_words"]),
 "the subword table is not fitted again to the trained vectors": ("sentiment_cli/training.py",
    "            fit_subword_vectors(model, encoder.tokenizer.vocabulary, config)  # to the vectors it learned\n",
    "\n",
    ["tests/test_subword_vectors.py::test_an_unseen_misspelling_moves_the_network_as_its_word"]),
 "subword positions count the tokens a text drops": ("sentiment_cli/model.py",
    "        position = position - start[:, None]\n",
    "        position = position - 0 * start[:, None]\n",
    ["tests/test_subword_vectors.py::test_the_layer_and_its_numpy_twin_agree"]),
 "the network fits without its subword codes": ("sentiment_cli/encoding.py",
    "                       config.subword_buckets if config.subword_vectors else 0, config.chars[1])\n",
    "                       0, config.chars[1])\n",
    ["tests/test_subword_vectors.py::test_the_network_trains_on_the_share_it_reads"]),
 "tune keeps the worst trial": ("sentiment_cli/tune.py",
    '        return f"trial-{study.best_trial.number}"\n',
    '        return f"trial-{min((t for t in study.trials if t.value is not None), key=lambda t: t.value).number}"\n',
    ["tests/test_tune.py::test_the_journal_decides_which_trial_run_is_kept"]),
}


# the exception types of a test that failed on its own verdict: assert (numpy's assertions raise
# AssertionError too), pytest.fail and pytest.raises' "DID NOT RAISE" (Failed)
ASSERTION_TYPES = {"AssertionError", "Failed"}


def pytest_verdict(root: Path, env: dict, tests: list[str], report: Path) -> dict:
    """Run ``tests`` in the copy; returns pytest's exit code, the counts, and the tests that failed
    on an assertion and those that failed or errored otherwise (by node name)."""
    report.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                           *tests], cwd=root, env=env, capture_output=True, text=True)
    verdict = {"code": done.returncode, "tests": 0, "passed": 0, "asserted": [], "other": [],
               "tail": (done.stdout.strip().splitlines() or done.stderr.strip().splitlines() or [""])[-1]}
    if not report.exists():
        return verdict
    for case in ET.parse(report).iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        verdict["tests"] += 1
        failures, errors = case.findall("failure"), case.findall("error")
        if errors:
            verdict["other"].append(f"{name} (error: {errors[0].get('message', '')[:80]})")
        elif failures:
            last = (failures[0].text or "").strip().splitlines()[-1:] or [""]
            kind = re.search(r":\d+: (\w+)$", last[0])
            if kind and kind.group(1) in ASSERTION_TYPES:
                verdict["asserted"].append(name)
            else:
                verdict["other"].append(f"{name} ({failures[0].get('message', '')[:80]})")
        elif case.find("skipped") is None:
            verdict["passed"] += 1
    return verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("words", nargs="*", metavar="WORD",
                        help="only the defects whose name has one of the words (all without)")
    parser.add_argument("--list", action="store_true", help="list the defects and their tests, run nothing")
    args = parser.parse_args()
    chosen = {name: defect for name, defect in DEFECTS.items()
              if not args.words or any(word in name for word in args.words)}
    if args.list:
        for name, (path, _, _, tests) in chosen.items():
            print(f"{name:45s} {path:32s} {' '.join(tests)}")
        return 0
    if not chosen:
        print(f"no defect's name has any of {args.words}: see --list", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sentiment-cli-mutations-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        report = Path(tmp) / "report.xml"
        for part in ("sentiment_cli", "tests", "data", "pyproject.toml"):
            source = REPO / part
            (shutil.copytree if source.is_dir() else shutil.copyfile)(source, root / part)
        env = {**os.environ, "PYTHONPATH": str(root)}
        # the control: the same tests on the unchanged copy must pass, or a "caught" means nothing
        every = sorted({test for *_, tests in chosen.values() for test in tests})
        control = pytest_verdict(root, env, every, report)
        passes = control["code"] == 0 and control["tests"] > 0 and not control["asserted"] and not control["other"]
        print(f"{'no defect (control)':45s} {'passes' if passes else 'FAILS':10s} ({control['tail']})", flush=True)
        if not passes:
            for name in control["asserted"] + control["other"]:
                print(f"    {name}", flush=True)
            print(f"no verdict: the tests fail without any defect (pytest exit code {control['code']}); fix the "
                  f"environment or the tests, then run again", file=sys.stderr)
            return 1
        missed = 0
        for name, (path, old, new, tests) in chosen.items():
            target = root / path
            original = target.read_text()
            if original.count(old) != 1:
                print(f"{name:45s} ANCHOR NOT FOUND in {path}: update this table", flush=True)
                missed += 1
                continue
            target.write_text(original.replace(old, new))
            try:
                result = pytest_verdict(root, env, tests, report)
            finally:
                target.write_text(original)
            caught = result["code"] == 1 and bool(result["asserted"])
            missed += not caught
            why = (f"{len(result['asserted'])} failed on an assertion" if caught else
                   f"exit code {result['code']}, {len(result['other'])} failed otherwise" if result["other"] or
                   result["code"] not in (0, 1) else "all passed")
            print(f"{name:45s} {'caught' if caught else 'NOT CAUGHT':10s} {' '.join(tests)}  ({why})", flush=True)
            for other in result["other"] if not caught else []:
                print(f"    {other}", flush=True)
        return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
