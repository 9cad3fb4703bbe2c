from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def spacy_parser():
    from bindclip.graphs.parse import SpacyParser

    return SpacyParser()


@pytest.fixture(scope="session")
def lemmatizer(spacy_parser):
    from bindclip.graphs.nlp import PhraseLemmatizer

    return PhraseLemmatizer(spacy_parser.nlp)
