"""Does a document vector add to the hybrid's halves? (issue 9: unlabeled text shaping the representation)

    python bench/doc2vec_mix.py [EPOCHS]      (default 10; needs bench/imdb.py --save-run imdb-default first)

gensim's Doc2Vec, PV-DBOW (Mesnil et al. 2014 style) on unigram + bigram tokens of the
labeled training rows and the 50,000 unlabeled reviews (validation and test texts are
inferred, never trained on); a logistic regression on the vectors (C chosen on validation);
then the mix of the saved run's halves with and without its logit, fitted on the validation
logits (accuracy out-of-fold) and scored on the 25,000 test reviews. Prints one line per step.
"""
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from common import imdb_file, read_test_labels, run_split
from sentiment_cli import runs
from sentiment_cli.data import read_labeled, read_records, read_unlabeled
from sentiment_cli.encoding import Encoder
from sentiment_cli.tokenizer import tokenize_batch
from sentiment_cli.model import halves_logits
from sentiment_cli.calibration import fit_mix, probabilities, out_of_fold
from gensim.models.doc2vec import Doc2Vec, TaggedDocument
from sklearn.linear_model import LogisticRegression
from sentiment_cli.threads import configure_threads
configure_threads()

t0 = time.time()
MODELS = Path(__file__).resolve().parent / "out" / "models"
if not (MODELS / "imdb-default").exists():
    print(f"SKIPPED: no {MODELS / 'imdb-default'}; run python bench/imdb.py --save-run imdb-default first",
          file=sys.stderr)
    sys.exit(0)
run = runs.load_run(MODELS, "imdb-default")
data = read_labeled(imdb_file("training_label.txt.gz"))
unl = read_unlabeled(imdb_file("training_nolabel.txt.gz"))
truth = read_test_labels(imdb_file("testing_label.csv.gz"))
test = list(read_records(imdb_file("testing_data.txt.gz"), "test"))
test_texts, test_labels = [r.text for r in test], [truth[r.id] for r in test]
encoder = Encoder.from_config(run.config, run.tokenizer)
y, y_test = encoder.encode_labels(data.labels), encoder.encode_labels(test_labels)
split = run_split(run, data.texts, y)  # the run's own training and validation rows
tr, va = split.train, split.val

def grams(toks):
    return toks + [a + " " + b for a, b in zip(toks, toks[1:])]

def docs(texts):
    out = []
    for i in range(0, len(texts), 2000):
        out.extend(grams(t) for t in tokenize_batch(texts[i:i + 2000]))
    return out

lab_docs, unl_docs, test_docs = docs(data.texts), docs(unl), docs(test_texts)
print(f"tokenized in {time.time()-t0:.0f}s", flush=True)
train_corpus = [TaggedDocument(d, [i]) for i, d in enumerate([lab_docs[i] for i in tr] + unl_docs)]
t1 = time.time()
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
d2v = Doc2Vec(train_corpus, dm=0, vector_size=100, negative=5, hs=0, min_count=2, sample=1e-4,
              epochs=epochs, workers=2, seed=1234)
print(f"doc2vec trained ({epochs} epochs) in {time.time()-t1:.0f}s", flush=True)
t1 = time.time()
Xtr = np.stack([d2v.dv[i] for i in range(len(tr))])
Xva = np.stack([d2v.infer_vector(lab_docs[i]) for i in va])
Xte = np.stack([d2v.infer_vector(d) for d in test_docs])
print(f"inferred in {time.time()-t1:.0f}s", flush=True)
best = None
for C in (0.01, 0.1, 1, 10):
    clf = LogisticRegression(C=C, max_iter=2000).fit(Xtr, y[tr])
    acc = clf.score(Xva, y[va])
    print(f"doc2vec LR C={C}: val {acc:.4f}", flush=True)
    if best is None or acc > best[0]:
        best = (acc, C, clf)
acc, C, clf = best
print(f"doc2vec LR (C={C} chosen on val): val {acc:.4f} test {clf.score(Xte, y_test):.4f}", flush=True)
d_va, d_te = clf.decision_function(Xva), clf.decision_function(Xte)
h_va = halves_logits(run.model, encoder.sequences([data.texts[i] for i in va]), encoder.features)
h_te = halves_logits(run.model, encoder.sequences(test_texts), encoder.features)
for label, cols in (("ngram+rnn", [0, 1]), ("ngram+rnn+doc2vec", [0, 1, 2]), ("ngram+doc2vec", [0, 2])):
    L_va = np.concatenate([h_va, d_va[:, None, None]], axis=1)[:, cols]
    L_te = np.concatenate([h_te, d_te[:, None, None]], axis=1)[:, cols]
    oof = out_of_fold(L_va, y[va], seed=0)
    params = fit_mix(L_va, y[va])
    p = probabilities(L_te, params)
    print(f"mix {label}: val (out-of-fold) {np.mean(oof.argmax(1) == y[va]) if oof.ndim > 1 else np.mean((oof > 0.5) == y[va]):.4f} "
          f"test {np.mean(p.argmax(1) == y_test):.4f} scales {np.round(params, 3).tolist()}", flush=True)
print(f"total {time.time()-t0:.0f}s")
