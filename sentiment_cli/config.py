"""Hyperparameters: one dataclass, validated at construction, saved as JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sentiment_cli.errors import ConfigError

CELLS = ("lstm", "gru")
MODELS = ("hybrid", "rnn", "ngram", "bow")
MERGE_MODES = ("concat", "sum", "mul", "ave")
POOLINGS = ("last", "mean")
BOW_MODES = ("counts", "tfidf")
TRUNCATING = ("pre", "post")
# What the tokenizer rewrites before its rules (textops.py): nothing, or URLs, @users, hashtags,
# emoticons and HTML entities of tweets.
NORMALIZATIONS = ("none", "tweets")
PRETRAININGS = ("none", "lm")
WORD2VEC = ("skipgram", "cbow")
LR_SCHEDULES = ("constant", "cosine")

# Prediction batches. Measured with bench/predict.py's model on 2 cores: at most 512 rows and
# 8,192 tokens (rows x padded length) predicted short lines faster (about 10,000 rows/s against
# 8,300) with less memory (peak 760 MB against 1,000 MB) than 1,024 rows and 65,536 tokens.
# With 0.4.0's defaults, 512 rows and 32,768 tokens predicted IMDB's reviews at 1,093 rows/s
# against 741 with 8,192 (`python bench/levers.py predict --data imdb`, 2026-12-01); short lines,
# whose batches the rows bound first, 13,857 against 14,739 (--data tweets).
PREDICT_BATCH = 512
PREDICT_TOKENS = 32768


# Upper bounds: values read from a damaged or hostile config.json must not ask for terabytes.
LIMITS = {"layers": 16, "embedding_dim": 4096, "hidden_size": 8192, "max_length": 100_000,
          "ngram_max_length": 100_000, "batch_size": 1 << 16,
          "epochs": 10_000, "ngram": 8, "ngram_buckets": 1 << 26, "ngram_min_count": 1 << 20,
          "char_ngrams": 8, "char_buckets": 1 << 24, "subword_ngrams": 8, "subword_buckets": 1 << 20,
          "subword_dim": 4096,
          # vocab_size: the model file's config.json holds the vocabulary (about 12 bytes a word), and
          # safety.CONFIG_LIMIT (16 MiB) refuses one of about 1.4 million words: a run we train must load
          "vocab_size": 1_000_000, "patience": 10_000}


@dataclass
class TrainConfig:
    """Everything that decides what `train` builds; `config.json` holds it."""

    # --- model ---
    # "hybrid": the rnn network and the ngram model side by side, their logits added;
    # "rnn": Embedding -> recurrent -> Dense; "ngram": naive-Bayes-scaled linear model over
    # hashed word n-grams (NBSVM-style); "bow": dense network on a bag of words.
    model: str = "hybrid"
    cell: str = "lstm"  # recurrent cell: "lstm" or "gru"
    bidirectional: bool = True  # read the text both ways
    merge_mode: str = "concat"  # how the two directions combine
    layers: int = 1  # stacked recurrent layers; all but the last return sequences
    pooling: str = "mean"  # summary of the last layer: final state, or mean over (unpadded) steps
    embedding_dim: int = 128
    hidden_size: int = 64  # units per direction; the Dense head has hidden_size // 2
    dropout: float = 0.3  # on embeddings (spatial) and before the output layer
    recurrent_dropout: float = 0.0  # > 0 rules out the cuDNN kernel on a GPU
    ngram: int = 3  # longest word n-gram of the ngram model (1 = words only)
    # most hash rows for the 2..ngram-grams (fewer for small data). 5-fold cross-validation on
    # IMDB's 25,000 training reviews (bench/ngram_features.py cv, C 0.1): with a 20,000-word
    # vocabulary, 2**21 rows (5 million n-grams sharing them) 0.9136 and 2**23 0.9163, both with
    # ngram_min_count 2; the scikit-learn peer with exact n-grams and min count 2, 0.9172
    ngram_buckets: int = 2**23
    # n-grams found in fewer training texts than this weigh nothing (scikit-learn's min_df; a
    # hashed n-gram counts by its row). With many labels it is noise either way (+0.03 to +0.04
    # points); with 300 and 1,000 labeled reviews it gained 0.1-0.5 and 0.5-0.7 points
    # (bench/ngram_features.py cv and few)
    ngram_min_count: int = 2
    # L2 strength of the ngram model's logistic regression (scikit-learn's C: smaller is
    # stronger); None chooses it on validation accuracy among 0.03, 0.1, 0.3 and 1
    ngram_c: float | None = None
    # longest character n-gram of each token in the n-gram half (2..char_ngrams-grams inside the
    # token's boundaries, hashed into char_buckets rows of their own; 0: none; ngram and hybrid
    # models only). They give a word never seen in training the evidence of words spelled like it.
    # Not a default: with 5 (0.8.0, 2026-12-07, bench/RESULTS.md) the n-gram half gained 0.39
    # validation points on the tweets and -0.04 on IMDB, the hybrid +0.07 and -0.08 (noise: 0.4
    # and 0.3), while IMDB's n-gram half took about 3x as long to fit (89 -> 306 s, other jobs
    # running) and its stored model grew from 14 to 15 MB.
    char_ngrams: int = 0
    char_buckets: int = 2**20
    # their naive Bayes ratios are scaled by this: under the L2 penalty a smaller scale makes the
    # character n-grams cost more to use than the words (bench/subword.py, 0.7.0: at 1 they cost
    # IMDB 0.8 validation points, at 0.25 nothing)
    char_weight: float = 0.25
    # the network half's vector for a token outside the vocabulary, made from its character
    # 2..subword_ngrams-grams (hashed into subword_buckets rows of subword_dim numbers, projected to
    # embedding_dim; model.UnknownWordVectors) instead of the one unknown-word vector. The rows are
    # fitted to the word vectors (embeddings.subword_table) before the network's fit and again after
    # it, so that a misspelling lands near its word; rnn and hybrid models only. Not a default: within
    # noise on both sets (0.9.0, 2026-12-07: hybrid validation +0.13 points on the tweets, -0.12 on
    # IMDB; docs/benchmarks.md), and each model 1 MB larger.
    subword_vectors: bool = False
    subword_ngrams: int = 5
    subword_buckets: int = 2**14
    subword_dim: int = 32
    bow_mode: str = "tfidf"  # features of the bow model: "counts" or "tfidf"
    embeddings: str | None = None  # GloVe / word2vec text file that initialises the embedding layer
    pretrain_embeddings: bool = True  # initialise it with Word2Vec trained on the run's own texts
    # that Word2Vec's architecture: "skipgram" or "cbow". CBOW learned the IMDB training texts' vectors
    # in 57 s against skip-gram's 174 s, and the hybrid's validation accuracy was 0.9254 against
    # 0.9195 (tweets: 0.8249 against 0.8247), the other settings those below (bench/levers.py
    # accuracy, 2026-12-01, 0.4.0's code; bench/RESULTS.md)
    word2vec: str = "cbow"
    freeze_embeddings: bool = False  # keep the initial word vectors fixed
    # --- text ---
    vocab_size: int = 20000  # including the padding and out-of-vocabulary ids
    # tokens the network half reads per text (batches pad to their own longest text). The n-gram half
    # reads whole texts (ngram_max_length), and beside it 200 tokens served IMDB as well as 400
    # (hybrid validation 0.9195 against 0.9199 at batch 256) in 62 s an epoch against 99 s, and
    # `test` reads fewer tokens too; tweets are shorter than either (bench/levers.py, 2026-12-01)
    max_length: int = 200
    # tokens the n-gram half reads per text (hybrid and ngram models): it costs little per token,
    # and on IMDB, where 18% of the reviews are longer than 400 tokens, reading them whole gained
    # 0.6 points with 900 labeled reviews and 0.3 (noise) with 22,500 (bench/RESULTS.md, 2026-11-23,
    # the code of commit c32f794; figures written down in commit 9a02979)
    ngram_max_length: int = 5000
    truncating: str = "pre"  # "pre" keeps a long text's end (where reviews give the verdict)
    normalize: str = "none"  # "tweets": URLs, @users, hashtags, emoticons, entities (see textops.py)
    # --- pretraining of the network half on the texts without their labels (fit/pretrain.py) ---
    # "lm": language models in both directions over the training texts and --unlabeled ones
    # (never the validation texts) start the embedding and first recurrent layer
    pretrain: str = "none"
    pretrain_epochs: float = 1.0  # passes over those texts
    pretrain_minutes: float = 15.0  # its time budget: it stops after the step that passes it (0: none)
    # --- training ---
    # Batches of 256 at lr 0.003 (the learning rate raised with the batch) against 64 at 0.001: an
    # IMDB epoch of the network half 3.3x faster in isolation (bench/levers.py speed: 299 against
    # 195 rows/s at 400 tokens, 469 at 200), tweets' 3x (20 against 60 s); the network half alone
    # was as accurate (IMDB 0.9100 against 0.9068, tweets 0.8199 against 0.8158), the hybrid
    # 0.14 points below on the tweets' 8,338 validation rows and, with the rest of these defaults,
    # 0.24 above on IMDB's 2,521 (bench/levers.py accuracy, 2026-12-01; bench/RESULTS.md)
    lr: float = 3e-3
    # "cosine": the learning rate falls from lr to 0 along a cosine over the ``epochs`` epochs
    # (Loshchilov & Hutter's SGDR without restarts), so that a few epochs end annealed
    lr_schedule: str = "constant"
    batch_size: int = 256
    epochs: int = 10
    patience: int = 2  # epochs without a better validation accuracy before stopping
    val_ratio: float = 0.1
    seed: int = 1234
    # --- data (filled in by train) ---
    labels: list = field(default_factory=list)  # label names; index = class id

    def __post_init__(self):
        def choice(name, options):
            if getattr(self, name) not in options:
                raise ConfigError(
                    f"{name} must be one of {', '.join(options)}, not {getattr(self, name)!r}"
                )

        def positive(name, minimum=1):
            value, maximum = getattr(self, name), LIMITS.get(name)
            if value < minimum:
                raise ConfigError(f"{name} must be at least {minimum}, not {value}")
            if maximum is not None and value > maximum:
                raise ConfigError(f"{name} must be at most {maximum}, not {value}")

        choice("model", MODELS)
        choice("cell", CELLS)
        choice("merge_mode", MERGE_MODES)
        choice("pooling", POOLINGS)
        choice("bow_mode", BOW_MODES)
        choice("truncating", TRUNCATING)
        choice("normalize", NORMALIZATIONS)
        choice("pretrain", PRETRAININGS)
        choice("word2vec", WORD2VEC)
        choice("lr_schedule", LR_SCHEDULES)
        if not 0 < self.pretrain_epochs <= LIMITS["epochs"]:
            raise ConfigError(f"pretrain_epochs must be in (0, {LIMITS['epochs']}], not {self.pretrain_epochs}")
        if not self.pretrain_minutes >= 0:
            raise ConfigError(f"pretrain_minutes must be at least 0, not {self.pretrain_minutes}")
        if self.pretrain != "none" and self.model not in ("rnn", "hybrid"):
            raise ConfigError(f"--pretrain {self.pretrain} pretrains a recurrent network: --model {self.model} "
                              "has none (use --model rnn or hybrid)")
        for name in ("layers", "embedding_dim", "hidden_size", "max_length", "ngram_max_length", "batch_size",
                     "epochs", "ngram", "ngram_buckets"):
            positive(name)
        positive("patience", 0)
        positive("ngram_min_count")
        positive("vocab_size", 3)
        if self.char_ngrams:
            positive("char_ngrams", 2)
            positive("char_buckets")
            if self.model not in ("ngram", "hybrid"):
                raise ConfigError(f"character n-grams belong to the n-gram half: --model {self.model} has none "
                                  "(use --model hybrid or ngram, or --char-ngrams 0)")
        if self.subword_vectors:
            positive("subword_ngrams", 2)
            positive("subword_buckets")
            positive("subword_dim")
            if self.model not in ("rnn", "hybrid"):
                raise ConfigError(f"subword vectors belong to the network half: --model {self.model} has none "
                                  "(use --model hybrid or rnn, or --no-subword-vectors)")
            if self.read_length * self.subword_buckets + self.chars[1] >= 2**31:
                raise ConfigError(f"{self.read_length} tokens x {self.subword_buckets} subword buckets do not fit "
                                  "the packed ids (2**31): read fewer tokens or use fewer buckets")
        if not 0 < self.char_weight <= 100:
            raise ConfigError(f"char_weight must be in (0, 100], not {self.char_weight}")
        for name in ("dropout", "recurrent_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), not {getattr(self, name)}")
        if not 0.0 < self.val_ratio < 1.0:
            raise ConfigError(f"val_ratio must be between 0 and 1, not {self.val_ratio}")
        if self.embeddings and self.pretrain_embeddings:
            raise ConfigError("give either an embeddings file or pretrain_embeddings, not both")
        if self.freeze_embeddings and not (self.embeddings or self.pretrain_embeddings):
            raise ConfigError("freeze_embeddings needs an embeddings file or pretrain_embeddings")
        if self.ngram_c is not None and not self.ngram_c > 0:
            raise ConfigError(f"ngram_c must be positive, not {self.ngram_c}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, not {self.lr}")

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def read_length(self) -> int:
        """Tokens a text keeps when it is tokenized: the network half's ``max_length``, or with an
        n-gram half the larger of that and ``ngram_max_length`` (the network cuts its own share)."""
        if self.model == "ngram":
            return self.ngram_max_length
        if self.model == "hybrid":
            return max(self.max_length, self.ngram_max_length)
        return self.max_length

    @property
    def chars(self) -> tuple[int, ...]:
        """(longest character n-gram, buckets) as the tokenizer packs them, or (0, 0) for none;
        then, with subword vectors, (their longest character n-gram, their buckets)."""
        chars = (self.char_ngrams, self.char_buckets) if self.char_ngrams else (0, 0)
        return chars + (self.subword_ngrams, self.subword_buckets) if self.subword_vectors else chars

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown hyperparameters: {', '.join(unknown)}")
        if "ngram_max_length" not in data and "max_length" in data:
            # saved before ngram_max_length existed: the n-gram half read the same tokens as the network
            data = {**data, "ngram_max_length": data["max_length"]}
        if "char_ngrams" not in data:
            # saved before character n-grams existed (0.7.0 and older): none
            data = {**data, "char_ngrams": 0}
        if "ngram_min_count" not in data:
            # saved before ngram_min_count existed: every n-gram of the training texts weighed
            data = {**data, "ngram_min_count": 1}
        if "word2vec" not in data:
            data = {**data, "word2vec": "skipgram"}  # saved before the choice existed: skip-gram was all
        return cls(**data)


SELECTIONS = ("rank", "threshold", "cotrain")
JUDGES = ("validation", "cv")  # SemiConfig.judge: the evidence that rolls a round back
PSEUDO_LABELS = ("accumulate", "replace")  # SemiConfig.pseudo_labels: what a round's picks do to the last round's


@dataclass
class SemiConfig:
    """How `semi` relabels: the original system's loop, made safe to interrupt and roll back."""

    # The original system ran 10 rounds of 2 epochs; on IMDB (75,000 texts, 2 cores) that would
    # be about 2 hours. Rounds also stop at the first one that is rolled back.
    rounds: int = 3
    # "rank": each class's surest `share` of the unlabeled texts, the same number per class;
    # "threshold": the original rule, p > 1 - t and p < t (multi-class: top probability >= 1 - t);
    # "cotrain" (runs of two halves): each half's surest `share`, ranked as "rank" does, trains
    # the other half. On IMDB with 1,000 labels three rounds of it lifted the accuracy on 24,000
    # development reviews more than rank's did (bench/RESULTS.md: bench/semi_rounds.py on 2026-11-23, commit 180ab51;
    # again with seeded rounds on 2026-11-29, commit 6db8995).
    # None: chosen by the run, cotrain for a hybrid run and rank for one of one half (threshold
    # when a band is given).
    select: str | None = None
    share: float = 0.5  # rank: pseudo-labels per round as a share of the unlabeled texts
    threshold: float = 0.1  # threshold: t
    band: tuple | None = None  # threshold, binary only: (low, high) keeps p <= low and p >= high instead
    epochs_per_round: int = 1  # the best epoch of each round, by validation accuracy, is kept
    max_per_round: int | None = None  # cap on pseudo-labels per round, most confident first
    balance: bool = False  # threshold: the same number of pseudo-labels for every class
    # round 0: train the base run's configuration afresh with Word2Vec vectors learned from the
    # labeled + unlabeled text, and start from it if validation says it is better
    pretrain_embeddings: bool = False
    # What rolls a round back (acceptance.py): "validation", the paired test on the validation rows;
    # "cv", that test on the validation rows or on the labeled training rows out of fold (the
    # n-gram half fitted on the other folds with the round's pseudo-labels, against the kept
    # round's). Runs that record no judge were judged by validation.
    judge: str = "validation"
    # "accumulate": a round's pseudo-labels join those of the rounds before it, and a text keeps
    # the class it was first given unless every half's teacher later agrees on another (Blum &
    # Mitchell's growing labeled set); "replace": each round learns from its own picks alone, which
    # with cotrain hands a half its own picks of two rounds before, relabeled by the other half:
    # on the tweets (2,000 labels) the rounds alternated good, bad, good, bad (docs/semi.md).
    # None: replace. Measured on the tweets (2,000 labels, draw 1, 4 co-training rounds from a
    # cross-validated start, bench/semi_rounds.py, 0.8.0-dev, 2026-12-07), the held-out tweets' accuracy
    # went 0.7337 -> 0.7403, 0.7430, 0.7409, 0.7443 replacing and -> 0.7403, 0.7408, 0.7380, 0.7420
    # accumulating: the swings of 0.6.0's single-split starts (+-1.1 to 2.2 points) had already
    # shrunk to 0.2-0.3, and accumulating did not remove the dip or end higher. Runs that record
    # none (0.7.0) replaced, as now.
    pseudo_labels: str | None = None

    def __post_init__(self):
        if self.select is not None and self.select not in SELECTIONS:
            raise ConfigError(f"select must be one of {', '.join(SELECTIONS)}, not {self.select!r}")
        if self.judge not in JUDGES:
            raise ConfigError(f"judge must be one of {', '.join(JUDGES)}, not {self.judge!r}")
        if self.pseudo_labels is not None and self.pseudo_labels not in PSEUDO_LABELS:
            raise ConfigError(f"pseudo_labels must be one of {', '.join(PSEUDO_LABELS)}, not {self.pseudo_labels!r}")
        if self.rounds < 1:
            raise ConfigError(f"rounds must be at least 1, not {self.rounds}")
        if self.epochs_per_round < 1:
            raise ConfigError(f"epochs_per_round must be at least 1, not {self.epochs_per_round}")
        if not 0.0 < self.threshold < 0.5:
            raise ConfigError(f"threshold must be between 0 and 0.5, not {self.threshold}")
        if not 0.0 < self.share <= 1.0:
            raise ConfigError(f"share must be in (0, 1], not {self.share}")
        if self.band is not None:
            low, high = self.band = tuple(float(v) for v in self.band)
            if not 0.0 <= low < high <= 1.0:
                raise ConfigError(f"band must be LOW,HIGH with 0 <= LOW < HIGH <= 1, not {low},{high}")
        if self.max_per_round is not None and self.max_per_round < 1:
            raise ConfigError(f"max_per_round must be at least 1, not {self.max_per_round}")
        if self.band is not None and self.select not in (None, "threshold"):
            raise ConfigError(f"--band bounds the threshold rule: give --select threshold, not {self.select}")

    def for_run(self, halves: list[str]) -> "SemiConfig":
        """The options with the selection rule, and what its picks do, chosen for a run of these halves."""
        if self.judge == "cv" and "ngrams" not in halves:
            raise ConfigError(f"--judge cv fits the run's n-gram half out of fold, and this run has none "
                              f"({', '.join(halves)}): use --judge validation, or a run of --model ngram or hybrid")
        if self.select == "cotrain" and len(halves) != 2:
            raise ConfigError(f"--select cotrain needs a run with two halves (--model hybrid); this one has "
                              f"{', '.join(halves)}. Use --select rank")
        select = self.select or ("threshold" if self.band is not None else "cotrain" if len(halves) == 2 else "rank")
        pseudo_labels = self.pseudo_labels or "replace"
        return dataclasses.replace(self, select=select, pseudo_labels=pseudo_labels)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SemiConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# ---- tune: a time budget as `tune --budget` takes it ----
_DURATION_UNITS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> float:
    """Seconds in '90s', '20m', '1.5h' or '1h30m' (a unit after every number); ConfigError otherwise."""
    import re

    spec = str(text).strip().lower()
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", spec)
    if not spec or "".join(n + u for n, u in parts) != spec or len({u for _, u in parts}) != len(parts):
        raise ConfigError(f"budget {text!r}: give a time such as 90s, 20m, 1h or 1h30m")
    seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ConfigError(f"budget {text!r}: give a time above zero, such as 90s, 20m or 1h")
    return seconds
