"""Tests that can fail: apply one defect to a copy of the library, run the tests that must catch
it, and print whether they did. Each row is a change the project's tests are meant to notice.

    python bench/mutations.py [WORD ...]    (only the defects whose name has one of the words)

The repository is copied to a temporary directory first (sentiment_cli/, tests/, data/), so the
working tree is never changed; the copy's package is the one imported there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# name: (file, text to replace (found exactly once), replacement, tests that must fail)
DEFECTS = {
 "labels shuffled in every fit": ("sentiment_cli/training.py",
    "    val_rows = encoder.rows(data.val_texts, data.val_y)\n",
    "    val_rows = encoder.rows(data.val_texts, data.val_y)\n    train_rows = Rows(train_rows.seqs, np.random.default_rng(0).permutation(train_rows.y))\n",
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
    "    if path.exists():\n        split = split_by_hashes",
    "    if False:\n        split = split_by_hashes",
    ["tests/test_semi.py::test_the_split_follows_the_texts_when_the_file_is_edited"]),
 "n-gram ratios zeroed": ("sentiment_cli/fit/ngram.py",
    "    weighed = int(np.count_nonzero(ratios.any(axis=1)))\n",
    "    layer.ratio.assign(np.zeros(layer.ratio.shape, dtype='float32'))\n    weighed = int(np.count_nonzero(ratios.any(axis=1)))\n",
    ["tests/test_learning.py"]),
 "resume ignores the stored options": ("sentiment_cli/training.py",
    '    job = TrainJob.from_options(models_dir, name, stored["options"])',
    '    job = TrainJob.from_options(models_dir, name, {**stored["options"], **{k: v for k, v in TrainConfig().to_dict().items() if k != "labels"}})',
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
 "probabilities out of input order": ("sentiment_cli/model.py",
    "        out[idx] = probs\n",
    "        out[np.sort(idx)] = probs\n",
    ["tests/test_cli_predict.py", "tests/test_learning.py"]),
 "safety accepts an unused array": ("sentiment_cli/safety.py",
    "        elif name not in expected:\n            problems.append(",
    "        elif name not in expected:\n            pass\n        elif False:\n            problems.append(",
    ["tests/test_safe_loading.py::test_an_unused_array_is_never_read",
     "tests/test_safe_loading.py::test_both_engines_refuse_a_crafted_archive[unused-array]"]),
}


def main() -> None:
    only = sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="sentiment-cli-mutations-") as tmp:
        root = Path(tmp)
        for part in ("sentiment_cli", "tests", "data", "pyproject.toml"):
            source = REPO / part
            (shutil.copytree if source.is_dir() else shutil.copyfile)(source, root / part)
        env = {**os.environ, "PYTHONPATH": str(root)}
        # the control: the same tests on the unchanged copy must pass, or a "caught" means nothing
        every = sorted({test for *_, tests in DEFECTS.values() for test in tests})
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *every], cwd=root,
                              env=env, capture_output=True, text=True)
        last = [line for line in done.stdout.splitlines() if " passed" in line or " failed" in line][-1:]
        print(f"{'no defect (control)':40s} {'passes' if done.returncode == 0 else 'FAILS':10s} ({' '.join(last)})",
              flush=True)
        for name, (path, old, new, tests) in DEFECTS.items():
            if only and not any(word in name for word in only):
                continue
            target = root / path
            original = target.read_text()
            if original.count(old) != 1:
                print(f"{name:40s} ANCHOR NOT FOUND in {path}: update this table", flush=True)
                continue
            target.write_text(original.replace(old, new))
            try:
                done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                                      cwd=root, env=env, capture_output=True, text=True)
            finally:
                target.write_text(original)
            last = [line for line in done.stdout.splitlines() if " passed" in line or " failed" in line][-1:]
            verdict = "caught" if done.returncode else "NOT CAUGHT"
            print(f"{name:40s} {verdict:10s} {' '.join(tests)}  ({' '.join(last)})", flush=True)


if __name__ == "__main__":
    main()
