"""The tokenizer's rules as data: RE2 patterns that ``textops`` runs as TensorFlow ops and
``pytokens`` replays in Python. Imports nothing, so that pytokens does not import TensorFlow."""

_WORD = r"\pL\pN\pM_"
# Python's str.split spaces that RE2's \s and \pZ miss: NEL and the C0 separators.
_SPACES = r"[\pZ\x{85}\x{1c}-\x{1f}]"

# RE2 has no look-around: a required boundary is matched as a group and put back (\1, \2).
_BOUNDARIES = {None: "()", "word": r"(^|[^\pL\pN_])", "space": r"(^|\s)"}
_AFTER = r"($|[^\pL\pN_])"
_NOSE = r"[-o^']?"
# The HTML entities Twitter's API leaves in tweets, decoded first ("&lt;3" is a heart).
_ENTITIES = [(r"&lt;", "<"), (r"&gt;", ">"), (r"&quot;", '"'), (r"&#0?39;|&apos;", "'"), (r"&amp;", "&")]
# (pattern, token, boundary before: None, "word" or "space", boundary after: a letter or digit
# must not follow), in order, on lower-cased text (":D" is ":d"). EYES stands for ":" and "=":
# a ":" face may follow a word ("great day:)"), a "=" face may not ("x=(a+b)" is no face).
# Faces that end in a letter need a boundary after them (":do" is not a laugh), faces that start
# with a bracket need a space before them ("(2010): great" and "(etc.): fine" are not sad), and
# so do links ("awww...so cute" holds no "www.").
_RULES = [
    (r"(?:https?://|www\.)\S+", "_url_", "word", False),
    (r"@[\pL\pN_]+", "_user_", "word", False),  # an address (a@b.com) has a letter before its @
    (r"</3+", "_heartbreak_", None, True),
    (r"<3+", "_heart_", None, True),  # "<30 mins" is no heart
    (r"EYES'-?\(+", "_cry_", None, False),
    (r"EYES" + _NOSE + r"[)\]}]+", "_smile_", None, False),
    (r"\^_*\^", "_smile_", None, False),
    (r"\(+" + _NOSE + r"[:=]", "_smile_", "space", True),
    (r";" + _NOSE + r"[)\]]+", "_wink_", None, False),
    (r";" + _NOSE + r"d+", "_wink_", None, True),
    (r"EYES" + _NOSE + r"[(\[{]+", "_sad_", None, False),
    (r"\)+" + _NOSE + r"[:=]", "_sad_", "space", True),
    (r"EYES" + _NOSE + r"d+", "_laugh_", None, True),
    (r"xd+", "_laugh_", "word", True),
    (r"(?:EYES|;)" + _NOSE + r"p+", "_tongue_", None, True),
    (r"EYES" + _NOSE + r"o+", "_surprise_", None, True),
    (r"EYES" + _NOSE + r"[/\\|]", "_annoyed_", None, True),
    (r"-_+-", "_annoyed_", None, False),
]


def _tweet_rules():
    """_RULES with EYES written out: ":" as given, "=" with a word boundary before it."""
    for pattern, token, before, after in _RULES:
        if "EYES" not in pattern:
            yield pattern, token, before, after
            continue
        yield pattern.replace("EYES", ":"), token, before, after
        yield pattern.replace("EYES", "="), token, before or "word", after
