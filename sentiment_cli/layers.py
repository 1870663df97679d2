"""Import this module to load a run's best.keras with Keras alone:

    import keras
    import sentiment_cli.layers  # registers TextToIds, KeepTokens, CompactNGramLogits, NGramLogits, BagOfWords,
                               # UnknownWordVectors, Mix
    model = keras.saving.load_model("models/demo/best.keras", safe_mode=True)
    model.predict(np.array(["what a great film"], dtype=object))

The package itself does not import TensorFlow, so that ``--help`` and ``info`` start fast.
To serve a run without sentiment-cli at all, ``sentiment-cli export`` it as a SavedModel.
"""

from sentiment_cli.calibration import Mix
from sentiment_cli.model import BagOfWords, UnknownWordVectors
from sentiment_cli.ngrams import CompactNGramLogits, NGramLogits
from sentiment_cli.textops import KeepTokens, TextToIds

__all__ = ["BagOfWords", "CompactNGramLogits", "KeepTokens", "Mix", "NGramLogits", "TextToIds", "UnknownWordVectors"]
