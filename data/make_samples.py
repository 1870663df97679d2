"""Writes the small sample files in data/ (run from the repository root).

They are made up here, from templates and word lists, so the repository holds no third-party
text: short tweet-like lines, 1 = positive, 0 = negative, at the paths `sentiment-cli` reads by
default. python data/make_samples.py rewrites them identically (seeded).

No text appears twice in or across the files (compared as `sentiment-cli check` compares them:
case and punctuation aside): a repeated training text can land on both sides of the validation
split, a test text that is also a training text flatters the test score, and an unlabeled text
that is a labeled one gives semi nothing new.
"""

import random
import re

POSITIVE = ["love", "loved", "great", "awesome", "amazing", "wonderful", "fantastic", "enjoyed",
            "brilliant", "happy", "perfect", "beautiful", "fun", "excellent", "best", "cool", "nice"]
NEGATIVE = ["hate", "hated", "awful", "terrible", "boring", "worst", "sad", "horrible", "annoying",
            "disappointing", "bad", "ugly", "broken", "useless", "stupid", "painful", "dull"]
THINGS = ["this movie", "the new album", "my phone", "today", "the weather", "this song", "the game",
          "that show", "the food here", "my new shoes", "the concert", "this book", "monday",
          "the traffic", "the update", "our trip", "the ending", "the coffee", "this place", "the pizza"]
POS_TEMPLATES = ["i {w} {t}", "{t} is {w}", "{t} was so {w} !", "just saw {t} , {w}", "{w} {w2} day with {t} :)",
                 "really {w} , {t} made my day", "so {w} , can't wait for more", "{t} ? {w} ! thanks",
                 "omg {t} is {w} and {w2}", "feeling {w} about {t}"]
NEG_TEMPLATES = ["i {w} {t}", "{t} is {w}", "{t} was so {w} ...", "just saw {t} , {w}", "{w} {w2} day with {t} :(",
                 "really {w} , {t} ruined my day", "so {w} , never again", "{t} ? {w} . no thanks",
                 "ugh {t} is {w} and {w2}", "feeling {w} about {t}"]
POS_ADJ = ["awesome", "amazing", "great", "wonderful", "fantastic", "perfect", "fun", "nice"]
NEG_ADJ = ["awful", "terrible", "boring", "horrible", "annoying", "bad", "dull", "painful"]


def sentence(rng, label):
    words, adjectives, templates = (POSITIVE, POS_ADJ, POS_TEMPLATES) if label else (NEGATIVE, NEG_ADJ, NEG_TEMPLATES)
    text = rng.choice(templates).format(w=rng.choice(words), w2=rng.choice(adjectives), t=rng.choice(THINGS))
    if rng.random() < 0.3:  # negated sentences with the opposite sign make the task less trivial
        other = POS_ADJ if not label else NEG_ADJ
        text += f" , not {rng.choice(other)} at all"
    return text


def new_sentence(rng, label, seen):
    """A sentence no file has yet, as checks.normalize compares texts (letters and digits, case folded)."""
    while True:
        text = sentence(rng, label)
        key = re.sub(r"[\W_]+", " ", text.casefold()).strip()
        if key not in seen:
            seen.add(key)
            return text


def main():
    rng = random.Random(20261122)
    seen = set()
    with open("data/training_label.txt", "w", encoding="utf-8", newline="\n") as f:
        for _ in range(400):
            label = rng.randint(0, 1)
            f.write(f"{label} +++$+++ {new_sentence(rng, label, seen)}\n")
    with open("data/training_nolabel.txt", "w", encoding="utf-8", newline="\n") as f:
        for _ in range(400):
            f.write(new_sentence(rng, rng.randint(0, 1), seen) + "\n")
    with open("data/testing_data.txt", "w", encoding="utf-8", newline="\n") as f, \
         open("data/testing_label.csv", "w", encoding="utf-8", newline="\n") as g:
        f.write("id,text\n")
        g.write("id,label\n")
        for i in range(200):
            label = rng.randint(0, 1)
            f.write(f"{i},{new_sentence(rng, label, seen)}\n")
            g.write(f"{i},{label}\n")


if __name__ == "__main__":
    main()
