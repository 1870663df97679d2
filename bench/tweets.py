"""Does `train --normalize tweets` help on tweets? The same model trained both ways, one run.

    python bench/tweets.py [--train N] [--test N] [--noise SHARE] [--seed S]

No public tweet set can be downloaded here, so this writes one: three classes (positive,
negative, neutral) of made-up tweets with what real ones have: @mentions from a pool of
thousands of handles, t.co-style links, hashtags, emoticons in their many spellings (":)",
":-)", "=)", "(:", "^_^" ...), HTML entities as Twitter's API leaves them ("&amp;", "&lt;3"),
elongations ("soooo"), and 10% of labels flipped (--noise). A third of the emotional tweets say how
they feel only by an emoticon or a hashtag. The generator was written with the normalization's
rules in mind, so read the figures as a check that the rules do what they say on such text,
not as an accuracy to expect on real tweets.

Prints one table: validation and test accuracy and macro F1 of each way, and the vocabulary
each way builds. Files go to bench/out/tweets/ and bench/out/models/ (git-ignored).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"

POSITIVE = ["love", "great", "awesome", "happy", "amazing", "best", "good", "excited", "fun", "beautiful",
            "thanks", "perfect", "nice", "enjoy", "glad", "wonderful", "cool", "proud", "lucky", "yay"]
NEGATIVE = ["hate", "awful", "worst", "sad", "terrible", "bad", "angry", "tired", "sick", "boring",
            "annoying", "ugh", "broken", "miss", "fail", "horrible", "hurts", "stupid", "lost", "sorry"]
TOPICS = ["monday", "game", "weekend", "coffee", "work", "school", "traffic", "weather", "movie", "concert",
          "phone", "train", "dinner", "exam", "music", "beach", "team", "update", "news", "meeting"]
FILLER = ["the", "this", "so", "my", "today", "is", "was", "at", "with", "and", "just", "it", "all", "of",
          "now", "again", "really", "day", "new", "time"]
NEUTRAL = ["reports", "announced", "schedule", "available", "starts", "released", "according", "says",
           "tonight", "live", "watch", "read", "via", "official", "statement", "changes", "expected", "details"]
FACES = {
    "positive": [":)", ":-)", "=)", "(:", ":]", "^_^", ":D", "xD", ":-D", ";)", ";-)", "<3", "&lt;3", ":P"],
    "negative": [":(", ":-(", "):", ":[", ":'(", "</3", "-_-", ":/", ":-/", "&gt;:("],
}
TAGS = {"positive": ["#happy", "#blessed", "#love", "#winning", "#BestDayEver", "#yay", "#goodvibes"],
        "negative": ["#fail", "#sad", "#ugh", "#worst", "#mondayblues", "#annoyed", "#epicfail"],
        "neutral": ["#news", "#update", "#breaking", "#live", "#tech", "#sports", "#weather"]}


def elongate(word: str, rng: random.Random) -> str:
    vowels = [i for i, c in enumerate(word) if c in "aeiouy"]
    if not vowels or rng.random() > 0.25:
        return word
    i = rng.choice(vowels)
    return word[:i] + word[i] * rng.randint(3, 6) + word[i + 1:]


def tweet(label: str, rng: random.Random, handles: list[str]) -> str:
    words = [rng.choice(FILLER) for _ in range(rng.randint(2, 6))] + [rng.choice(TOPICS)]
    if label == "neutral":
        words += [rng.choice(NEUTRAL) for _ in range(rng.randint(1, 3))]
    elif rng.random() < 2 / 3:  # a third say it only with a face or a hashtag
        pool = POSITIVE if label == "positive" else NEGATIVE
        words += [elongate(rng.choice(pool), rng) for _ in range(rng.randint(1, 2))]
    rng.shuffle(words)
    if rng.random() < 0.5:
        words.insert(0 if rng.random() < 0.7 else len(words), "@" + rng.choice(handles))
    if rng.random() < 0.2:
        words.insert(rng.randint(0, len(words)), "&amp;")
    if label != "neutral":
        for _ in range(rng.choice([1, 1, 2])):
            face = rng.choice(FACES[label])
            if face[0] in ":;=" and rng.random() < 0.3 and words:  # ":)" often follows a word unspaced
                words[-1] += face
            else:
                words.append(face)
    if rng.random() < 0.6:
        words.append(rng.choice(TAGS[label]))
    if label == "neutral" or rng.random() < 0.3:
        words.append(f"http://t.co/{''.join(rng.choice('abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789') for _ in range(10))}")
    text = " ".join(words)
    return text[0].upper() + text[1:] if rng.random() < 0.3 else text


def write_set(path: Path, n: int, rng: random.Random, handles: list[str], noise: float = 0.1) -> None:
    labels = ["positive", "negative", "neutral"]
    lines = ["label,text"]
    for i in range(n):
        label = labels[i % 3]
        text = tweet(label, rng, handles)
        if rng.random() < noise:
            label = rng.choice([l for l in labels if l != label])
        lines.append(f'{label},"{text}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=3000, help="training tweets (10%% of them validation)")
    parser.add_argument("--test", type=int, default=3000, help="test tweets")
    parser.add_argument("--noise", type=float, default=0.1, help="share of labels flipped")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    from sentiment_cli.threads import configure_threads

    configure_threads()
    import numpy as np

    from sentiment_cli import runs
    from sentiment_cli.config import TrainConfig
    from common import train_saved
    from sentiment_cli.data import read_labeled
    from sentiment_cli.predict import Predictor
    from sentiment_cli.scoring import classification_report

    rng = random.Random(args.seed)
    handles = [f"{rng.choice(['jo', 'sam', 'alex', 'kim', 'lee', 'max', 'ana', 'tom'])}{rng.choice(['_', '', '.'])}"
               f"{rng.randint(1, 99999)}" for _ in range(5000)]
    handles = [h.replace(".", "") for h in handles]
    directory = OUT / "tweets"
    directory.mkdir(parents=True, exist_ok=True)
    train_path, test_path = directory / "train.csv", directory / "test.csv"
    write_set(train_path, args.train, rng, handles, args.noise)
    write_set(test_path, args.test, rng, handles, args.noise)
    test = read_labeled(test_path)

    rows = []
    for normalize in ("none", "tweets"):
        config = TrainConfig(normalize=normalize, seed=args.seed)
        name = f"tweets-{normalize}"
        train_saved(OUT / "models", name, config, train_path)
        run = runs.load_run(OUT / "models", name)
        probs = Predictor([run]).probabilities(test.texts)
        index = {label: i for i, label in enumerate(run.config.labels)}
        report = classification_report(np.array([index[l] for l in test.labels]), probs.argmax(axis=1),
                                       run.config.labels)
        rows.append((normalize, run.metrics["best_val_accuracy"], report["accuracy"], report["macro_f1"],
                     len(run.tokenizer)))

    print(f"\nMade-up tweets (see the docstring): {args.train} training (10% validation), {args.test} test, "
          f"three classes, {args.noise:.0%} of labels flipped; defaults otherwise (--model hybrid), seed {args.seed}\n")
    print("| --normalize | val acc | test acc | test macro F1 | vocabulary |")
    print("|---|---|---|---|---|")
    for normalize, val, acc, f1, vocab in rows:
        print(f"| {normalize} | {val:.4f} | {acc:.4f} | {f1:.4f} | {vocab} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
