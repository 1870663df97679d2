"""sentiment-cli: train, apply and improve neural sentiment classifiers."""

__version__ = "0.9.0"
