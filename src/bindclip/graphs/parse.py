"""Caption -> scene graph parsers.

`SpacyParser` reads the graph off spaCy's dependency parse with a small set of rules (nouns become
objects, their modifiers attributes, prepositions and verbs relations). `Seq2SeqParser` runs a
FACTUAL-style T5 model that writes "( subject , predicate , object )" text. Both follow the
`Parser` protocol, and `GraphCache` makes any parser parse each distinct caption once.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from ..errors import MissingFileError, SpecError
from .factual import parse_factual_lenient
from .nlp import NUMBER_WORDS, LemmaIndex, load_pipeline
from .scene_graph import GraphFormatError, SceneGraph, SGObject, SGRelation


@runtime_checkable
class Parser(Protocol):
    name: str

    def parse(self, captions: Sequence[str]) -> list[SceneGraph]:
        """One graph per caption, in order (an unparsable caption gives an empty graph)."""
        ...


# ---- word lists: closed classes of English, not tuned to any data set --------------------------
# "a group of people" -> the object is "people"
PARTITIVES = frozenset(
    """group bunch pair couple lot lots herd flock stack pile set number variety
    row line piece pieces slice bit bits kind type sort handful cluster crowd team array assortment
    collection bundle series plenty""".split()
)
# "on top of", "in front of", "to the left of", "on the side of": one relation phrase
RELATIONAL_NOUNS = frozenset(
    """top front back side left right middle center centre edge corner
    bottom end rear front part inside outside base""".split()
)
# compound nouns that say what a thing is made of are attributes ("metal pole": pole is metal)
MATERIALS = frozenset(
    """metal wood wooden stone brick glass plastic leather wire steel iron concrete
    paper cardboard cotton wool silk denim rubber ceramic porcelain marble granite tile asphalt
    cement aluminum aluminium copper bronze brass gold silver straw wicker bamboo clay fabric cloth
    chrome tin foam canvas lace velvet vinyl""".split()
)
# adjectives that name a part ("left shoe", "front legs") belong to the name, not to the attributes
PART_ADJECTIVES = frozenset("left right front back rear top bottom upper lower".split())
# determiner-like adjectives that describe no visual property
NON_VISUAL = frozenset(
    """other another same similar such more much various own certain entire whole only
    main""".split()
)
# how many there are: kept as attributes ("several cows and a horse" is not "a cow and several horses")
QUANTITY_DETERMINERS = frozenset("some many several few".split())
PARTITIVE_COUNTS = {"couple": "2", "bunch": "many", "lot": "many", "lots": "many", "number": "many"}
SIZE_WORDS = frozenset("small large big little tiny huge".split())
# shade modifiers glued to the colour they modify ("dark green" is one attribute)
SHADES = frozenset("dark light bright pale deep pastel neon".split())
# "a man in a white shirt": being in clothes is wearing them, as scene-graph data writes it
CLOTHING = frozenset(
    """shirt t-shirt tshirt jacket coat dress hat cap helmet pants trousers jeans
    shorts skirt suit uniform sweater hoodie vest jersey glasses sunglasses goggles gloves glove boots
    boot shoes shoe sneakers scarf tie outfit costume wetsuit bikini swimsuit apron robe clothes
    clothing blouse sweatshirt tank top gown cardigan overalls mask headband visor""".split()
)
# "two objects: a cat and a dog": a counted generic noun before a colon announces the list
# what a caption calls the picture itself ("a photo of a dog left of a person", CLIP's "itap of a {c}"): as the
# caption's head noun it is no object, and its relations and content belong to what follows "of"
FRAMES = frozenset(
    """photo photograph picture image pic snapshot shot closeup close-up view rendering render
drawing painting sketch illustration depiction itap""".split()
)
HEADER_NOUNS = frozenset("object thing item shape".split())
PRONOUN_OBJECTS = frozenset("it them".split())
COPULAS = frozenset("be look appear seem become".split())
COLOURS = frozenset(
    """red orange yellow green blue purple pink brown black white grey gray silver
    gold golden beige tan maroon navy teal turquoise violet cyan magenta cream ivory khaki olive""".split()
)


class SpacyParser:
    """Rule-based parser over spaCy's dependency parse (NER excluded: no rule uses it)."""

    name = "spacy"

    def __init__(self, nlp=None, batch_size: int = 512, n_process: int = 1):
        self.nlp = nlp or load_pipeline(("ner",))
        self.batch_size = batch_size
        self.n_process = n_process
        self.lemmas = LemmaIndex(self.nlp)

    def parse(self, captions: Sequence[str]) -> list[SceneGraph]:
        return list(self.iter_parse(captions))

    def iter_parse(self, captions: Iterable[str]):
        texts = (_clean(c) for c in captions)
        for caption, doc in zip(captions, self.nlp.pipe(texts, batch_size=self.batch_size, n_process=self.n_process)):
            yield graph_from_doc(doc, caption, self.lemmas)

    def __call__(self, caption: str) -> SceneGraph:
        return self.parse([caption])[0]


def _clean(caption: str) -> str:
    # spaCy's small model tags capitalised caption words as proper nouns; captions are not names
    return " ".join(caption.split()).lower()


def graph_from_doc(doc, caption: str | None = None, lemmas: LemmaIndex | None = None) -> SceneGraph:
    return _GraphBuilder(doc, lemmas).build(doc.text if caption is None else caption)


class _GraphBuilder:
    """Walks one Doc: first the object nodes, then the relations between them."""

    def __init__(self, doc, lemmas: LemmaIndex | None):
        self.doc = doc
        self.lemmas = lemmas
        self.node_of: dict[int, int] = {}  # token index -> node index
        self.objects: list[SGObject] = []
        self.extra_attrs: dict[int, list[str]] = {}
        self.relations: list[SGRelation] = []

    def build(self, caption: str) -> SceneGraph:
        for tok in self.doc:
            if self._is_object_head(tok):
                self._add_node(tok)
        for tok in self.doc:
            self._pass_on_attributes(tok)
            self._relations_from(tok)
        objects = [
            SGObject(o.name, tuple(dict.fromkeys(o.attributes + tuple(self.extra_attrs.get(i, ())))))
            for i, o in enumerate(self.objects)
        ]
        rels = list(dict.fromkeys(r for r in self.relations if r.subject != r.object))
        return SceneGraph(objects, rels, caption)

    # ---- nodes --------------------------------------------------------------------------------
    def _is_object_head(self, tok) -> bool:
        if _misread_initial_noun(tok) or _determined_adjective(tok):
            return True
        if tok.pos_ not in ("NOUN", "PROPN"):
            return False
        if _premodifier_word(tok) and _next_is_noun(tok):
            return False  # "a large purple cross" read as (purple, cross): purple is an attribute
        if tok.dep_ in ("compound", "amod") and tok.head.pos_ in ("NOUN", "PROPN"):
            return False  # part of the head's name, or an attribute of it
        if _see_through(tok) is not None:
            return False
        if _is_header(tok):
            return False
        if tok.lemma_.lower() in RELATIONAL_NOUNS and tok.dep_ == "pobj" and _of_object(tok) is not None:
            return False  # "on top of X": part of the relation phrase
        return True

    def _add_node(self, tok):
        """Name = compounds + lemma ("train track"); attributes = adjectives, numbers, colour and
        material words, each kept at its position so they read in caption order."""
        name_words, attributes = [], []  # (token index, text)
        for child in tok.children:
            if child.i > tok.i:
                continue
            low = child.lower_
            if child.dep_ == "compound":
                for mod in child.subtree:
                    if mod.dep_ == "amod" and mod.pos_ == "ADJ" and mod.lower_ not in NON_VISUAL:
                        attributes += [(mod.i, a) for a in _adjective_texts(mod)]
                    elif mod.dep_ == "compound" or mod == child:
                        (attributes if _premodifier_word(mod) else name_words).append((mod.i, mod.lower_))
            elif child.dep_ == "amod" and child.pos_ in ("ADJ", "VERB", "NOUN", "PROPN"):
                if low in PART_ADJECTIVES:
                    name_words.append((child.i, low))
                elif low not in NON_VISUAL:
                    attributes += [(child.i, a) for a in _adjective_texts(child)]
            elif child.dep_ == "nummod" and child.like_num:
                attributes.append((child.i, NUMBER_WORDS.get(low, low)))
            elif child.dep_ == "det" and low in QUANTITY_DETERMINERS:
                attributes.append((child.i, low))
        # the tagger sometimes hangs pre-modifiers elsewhere ("purple" as the subject of "cross");
        # words between the determiner and the noun modify the noun whatever the arcs say
        used = {i for i, _ in name_words + attributes}
        for left in _premodifier_span(tok):
            if left.i not in used:
                attributes += [(left.i, a) for a in (_adjective_texts(left) if left.pos_ == "ADJ" else [left.lower_])]
        if _gerund_compound(tok):  # "cutting board" read as (cut, board)
            name_words.append((tok.head.i, tok.head.lower_))
        attributes = _glue_shades([a for _, a in sorted(attributes, key=lambda x: x[0])])
        head_word = tok.lower_ if _misread_initial_noun(tok) else self._noun_lemma(tok)
        name = " ".join([w for _, w in sorted(name_words)] + [head_word])
        self.node_of[tok.i] = len(self.objects)
        self.objects.append(SGObject(name, tuple(dict.fromkeys(attributes))))

    def _pass_on_attributes(self, tok):
        """A partitive's adjectives describe what it stands for ("a spotted group of zebras", "a rusty pair of
        scissors"), and a counting partitive gives the count. A frame's describe the picture ("a blurry
        photo of a dog" is no blurry dog): dropped."""
        target = _see_through(tok)
        if target is None or tok.i in self.node_of or tok.lemma_.lower() in FRAMES:
            return
        attributes = [
            a
            for c in tok.children
            if c.dep_ == "amod" and c.i < tok.i and c.lower_ not in NON_VISUAL and c.lower_ not in PART_ADJECTIVES
            for a in _adjective_texts(c)
        ]
        if tok.lemma_.lower() in PARTITIVE_COUNTS:  # "a couple of children", "a bunch of stones"
            attributes.insert(0, PARTITIVE_COUNTS[tok.lemma_.lower()])
        for node in self.nodes(target):
            self.extra_attrs.setdefault(node, []).extend(attributes)

    def _noun_lemma(self, tok) -> str:
        lemma = tok.lemma_.lower()
        return self.lemmas.pick(tok.lower_, lemma, "NOUN") if self.lemmas else lemma

    def _verb_text(self, verb) -> str:
        """Lemma and particles of a verb ("sitting down" -> "sit down"); copulas give ""."""
        lemma = verb.lemma_.lower()
        if lemma == "be" or verb.lower_ in ("left", "right") and _child(verb, "prep") is not None:
            return ""
        if self.lemmas:
            lemma = self.lemmas.verb(verb.lower_, lemma)
        prts = [c.lower_ for c in verb.children if c.dep_ == "prt" and c.i > verb.i]
        return " ".join([lemma] + prts)

    def nodes(self, tok, own_relation_stops: bool = False) -> list[int]:
        """The node(s) a token stands for: itself and its conjuncts; through partitives; pronouns
        resolve to the caption's first object. With `own_relation_stops`, a conjunct that carries
        its own prepositional phrase keeps to it ("a cat on a mat and a dog under a table")."""
        if tok is None:
            return []
        if tok.i in self.node_of:
            out = [self.node_of[tok.i]]
        elif _see_through(tok) is not None:
            out = self.nodes(_see_through(tok), own_relation_stops)
        elif tok.lower_ in PRONOUN_OBJECTS and self.objects:
            out = [0]
        else:
            return []
        for c in tok.children:
            if c.dep_ == "conj" and c.pos_ in ("NOUN", "PROPN"):
                if own_relation_stops and _has_own_relation(c):
                    continue
                out += self.nodes(c, own_relation_stops)
        return out

    def coordination(self, tok) -> list[int]:
        """All conjuncts of a noun: a modifier on the last one ("a dog and a cat sitting on a
        couch") is read as applying to each."""
        while tok.dep_ == "conj" and tok.head.pos_ in ("NOUN", "PROPN"):
            tok = tok.head
        return self.nodes(tok)

    # ---- relations ----------------------------------------------------------------------------
    def _relate(self, subjects, predicate, objects):
        predicate = " ".join(predicate.split())
        for s in subjects:
            for o in objects:
                self.relations.append(SGRelation(s, predicate, o))

    def _relations_from(self, tok):
        dep = tok.dep_
        if dep in ("prep", "agent") and tok.pos_ == "ADP":
            self._prep_relation(tok)
        elif dep == "poss" and tok.i in self.node_of:
            self._relate(self.nodes(tok), "have", self.nodes(tok.head))
        elif tok.pos_ in ("VERB", "AUX") and not _misread_initial_noun(tok):
            self._verb_relations(tok)
        elif tok.i in self.node_of and any(c.dep_ == "aux" and c.lemma_ == "have" for c in tok.children):
            self._relate(self.nodes(_child(tok, "nsubj")), "have", self.nodes(tok))

    def _prep_relation(self, prep):
        head, words = self._phrase_head(prep)
        if head is None:
            return
        obj = _child(prep, "pobj")
        if obj is None:
            pcomp = _child(prep, "pcomp")  # "on cutting board" read as "on (cutting board)"
            obj = _child(pcomp, "dobj") if pcomp is not None else None
            if obj is None or not _gerund_compound(obj):
                return
        # "on top of X", "to the left of X": fold the relational noun into the phrase
        if obj.lemma_.lower() in RELATIONAL_NOUNS and obj.i not in self.node_of:
            det = [c.lower_ for c in obj.children if c.dep_ == "det" and c.lower_ == "the"]
            words += det + [obj.lower_, "of"]
            obj = _of_object(obj)
        objects = self.nodes(obj, own_relation_stops=True)
        if not objects:
            return
        if words == ["of"] and head.i in self.node_of:
            # "the seat of the toilet": part-whole, as FACTUAL writes it
            self._relate(objects, "have", self.nodes(head))
            return
        words = _normalise_phrase(words, obj)
        subjects = self.nodes(head, own_relation_stops=True)
        if subjects:
            self._relate(subjects, " ".join(words), objects)
        elif head.pos_ in ("VERB", "AUX"):
            self._verb_prep_relation(head, prep, words, objects)

    def _phrase_head(self, prep):
        """The token a preposition relates from, and the words of the relation phrase so far."""
        head, words = prep.head, [prep.lower_]
        # "next to", "close to", "out of", "in between": the preposition hangs off a modifier,
        # unless that modifier is a preposition with an object of its own
        if (
            head.pos_ in ("ADV", "ADJ", "ADP")
            and head.dep_ in ("advmod", "prep", "acomp", "prt", "amod")
            and not (head.dep_ == "prep" and _child(head, "pobj") is not None)
        ):
            words = [head.lower_] + words
            head = head.head
        if head.lower_ in ("left", "right") and words == ["of"] and head.i not in self.node_of and head.dep_ != "pobj":
            # "a circle is left of it": the tagger reads "left" as the verb "leave" or a noun
            words = [head.lower_, "of"]
            if head.pos_ in ("VERB", "AUX") and _child(head, "nsubj") is not None:
                pass  # the verb's own subject is the subject
            elif head.dep_ == "acomp" and head.head.pos_ in ("AUX", "VERB"):
                head = head.head
            else:
                before = [i for i in self.node_of if i < head.i]
                head = self.doc[max(before)] if before else None
        if head is not None and _is_header(head) and _child(head, "appos") is not None:
            head = _child(head, "appos")  # "two objects: a cat on a mat" hangs "on" off "objects"
        return head, words

    def _verb_prep_relation(self, verb, prep, words, objects):
        if prep.dep_ == "agent":  # passive with agent: "bear surrounded by grass"
            self._relate(objects, self._verb_text(verb), self._patients(verb))
            return
        subjects = self._subjects(verb)
        vt = self._verb_text(verb)
        predicate = " ".join(([vt] if vt else []) + words)
        self._relate(subjects, predicate, objects)

    def _verb_relations(self, verb):
        subjects = self._subjects(verb)
        vt = self._verb_text(verb)
        for c in verb.children:
            if c.dep_ in ("dobj", "attr", "oprd") and vt:
                self._relate(subjects, vt, self.nodes(c))
            elif c.dep_ == "acomp" and verb.lemma_ in COPULAS and _child(c, "prep") is None:
                for s in subjects:
                    self.extra_attrs.setdefault(s, []).extend(_adjective_texts(c))
        # relative clause whose own subject is a noun: "the ball the boy holds"
        if verb.dep_ == "relcl" and not any(c.dep_ == "dobj" for c in verb.children):
            own = [c for c in verb.children if c.dep_ == "nsubj" and c.i in self.node_of]
            if own and vt:
                self._relate(self.nodes(own[0]), vt, self.nodes(verb.head))

    def _subjects(self, verb) -> list[int]:
        """Who does the verb: its nominal subject, the noun a participle or relative clause
        modifies, or the subject of the verb it is coordinated with."""
        for c in verb.children:
            if c.dep_ in ("nsubj", "nsubjpass", "expl"):
                if c.dep_ == "expl":
                    continue
                if c.pos_ == "PRON" and verb.dep_ == "relcl":
                    return self.nodes(verb.head)
                return self.nodes(c)
        if verb.dep_ in ("acl", "relcl"):
            return self.coordination(verb.head)
        if verb.dep_ in ("conj", "xcomp", "advcl") and verb.head.pos_ in ("VERB", "AUX"):
            return self._subjects(verb.head)
        # "woman holding kite": the small model hangs the subject off the verb as a modifier
        before = [
            c
            for c in verb.children
            if c.i < verb.i
            and c.i in self.node_of
            and c.dep_ in ("npadvmod", "compound", "dep", "nmod", "advmod", "intj")
        ]
        return self.nodes(before[-1]) if before else []

    def _patients(self, verb) -> list[int]:
        for c in verb.children:
            if c.dep_ == "nsubjpass":
                return self.nodes(c)
        if verb.dep_ == "acl":
            return self.nodes(verb.head)
        return []


def _child(tok, dep):
    return next((c for c in tok.children if c.dep_ == dep), None)


def _of_object(tok):
    """The object of the "of" after a noun ("group of >people<"), or None."""
    of = next((c for c in tok.children if c.dep_ == "prep" and c.lower_ == "of"), None)
    return _child(of, "pobj") if of is not None else None


def _see_through(tok):
    """What a partitive ("a group of >people<") or the caption's frame ("a photo of >a dog<") stands for,
    or None when the token is neither."""
    lemma = tok.lemma_.lower()
    if lemma in PARTITIVES or lemma in FRAMES and tok.dep_ in ("ROOT", "attr"):
        return _of_object(tok)
    return None


def _normalise_phrase(words: list[str], obj) -> list[str]:
    """Equivalent phrasings as scene-graph data writes them."""
    if words == ["in", "between"]:
        return ["between"]
    if words == ["inside", "of"]:
        return ["inside"]
    if words[0] == "at" and len(words) > 1:  # "at the top of" is "on top of"
        return ["on"] + words[1:]
    if words == ["in"] and obj.lemma_.lower() in CLOTHING:
        return ["wear"]  # "a man in a white shirt"
    return words


def _has_own_relation(tok) -> bool:
    """A conjunct with its own prepositional phrase ("... and a dog next to a cat")."""
    return any(c.dep_ == "prep" or c.dep_ == "advmod" and _child(c, "prep") is not None for c in tok.children)


def _is_header(tok) -> bool:
    return tok.lemma_.lower() in HEADER_NOUNS and tok.i + 1 < len(tok.doc) and tok.doc[tok.i + 1].text == ":"


def _premodifier_word(tok) -> bool:
    return tok.lower_ in COLOURS or tok.lower_ in MATERIALS or tok.lower_ in SIZE_WORDS


def _next_is_noun(tok) -> bool:
    nxt = tok.nbor(1) if tok.i + 1 < len(tok.doc) else None
    return nxt is not None and (nxt.pos_ in ("NOUN", "PROPN") or _determined_adjective(nxt))


def _premodifier_span(tok) -> list:
    """Adjectives, colour and material words right before a noun, back to the determiner."""
    out = []
    k = tok.i - 1
    while k >= 0:
        w = tok.doc[k]
        if w.pos_ == "ADJ" or (w.pos_ in ("NOUN", "PROPN") and _premodifier_word(w)):
            if w.lower_ not in NON_VISUAL and w.lower_ not in PART_ADJECTIVES:
                out.append(w)
            k -= 1
        else:
            break
    return out[::-1]


def _determined_adjective(tok) -> bool:
    """ "a small pink square" with "square" tagged ADJ: a word with an article, at the end of
    its phrase, is a noun."""
    if tok.pos_ != "ADJ" or tok.dep_ not in (
        "ROOT",
        "pobj",
        "attr",
        "dobj",
        "nsubj",
        "appos",
        "dep",
        "conj",
        "advcl",
        "npadvmod",
    ):
        return False
    if tok.i + 1 < len(tok.doc) and tok.doc[tok.i + 1].pos_ in ("NOUN", "PROPN"):
        return False
    k = tok.i - 1  # walk back over the modifiers to what starts the phrase
    while k >= 0 and (tok.doc[k].pos_ == "ADJ" or _premodifier_word(tok.doc[k])):
        k -= 1
    return k >= 0 and tok.doc[k].lower_ in ("a", "an", "the")


def _misread_initial_noun(tok) -> bool:
    """A caption that opens with a bare verb or adverb and no subject ("grout in between tiles",
    "surfer sitting on board") opens with a noun the tagger misread: captions describe things."""
    return (
        tok.i == 0
        and tok.dep_ == "ROOT"
        and tok.tag_ in ("VB", "VBP", "RB")
        and not any(c.dep_.startswith("nsubj") for c in tok.children)
    )


def _gerund_compound(tok) -> bool:
    """ "cutting board", "parking lot": a gerund right before a noun that the parser read as the
    gerund's object inside a prepositional phrase or a modifier."""
    g = tok.head
    return tok.dep_ == "dobj" and g.tag_ == "VBG" and g.i == tok.i - 1 and g.dep_ in ("pcomp", "amod", "compound")


def _adjective_texts(adj) -> list[str]:
    """An adjective with its adverbs ("partly cloudy"), and each coordinated adjective apart
    ("red and white" -> ["red", "white"])."""
    words = [
        w
        for w in adj.children
        if w.i < adj.i
        and w.dep_ in ("advmod", "npadvmod", "amod")
        and (w.pos_ == "ADV" or w.lower_ in SHADES)
        and w.lower_ not in ("very", "too", "so")
    ]
    out = [" ".join([w.lower_ for w in words] + [NUMBER_WORDS.get(adj.lower_, adj.lower_)])]
    for c in adj.children:
        if c.dep_ == "conj" and c.pos_ in ("ADJ", "NOUN", "VERB"):
            out += _adjective_texts(c)
    return [a for a in out if a not in NON_VISUAL]


def _glue_shades(attributes: list[str]) -> list[str]:
    out = []
    for a in attributes:
        if out and out[-1] in SHADES:
            out[-1] = f"{out[-1]} {a}"
        else:
            out.append(a)
    return out


# ---- a seq2seq parser: FACTUAL-style T5 that writes "( subject , predicate , object )" ---------
class Seq2SeqParser:
    """A local FACTUAL-style flan-T5 scene-graph parser (downloaded by the user: no hub access).

    The model reads `prompt + caption` and writes FACTUAL tuples; malformed groups in the generated
    text are skipped and counted in `self.malformed`, so a bad generation degrades one graph and
    never the file.
    """

    name = "seq2seq"

    def __init__(
        self,
        model_dir: str | Path,
        prompt: str = "Generate Scene Graph: ",
        batch_size: int = 32,
        max_new_tokens: int = 128,
        num_beams: int = 1,
        device: str = "cpu",
    ):
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer  # optional extra [seq2seq], and heavy

        model_dir = Path(model_dir)
        if not (model_dir / "config.json").exists():
            raise MissingFileError(f"{model_dir}: not a local model directory (no config.json)")
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(model_dir, local_files_only=True).to(device).eval()
        self.prompt, self.batch_size, self.device = prompt, batch_size, device
        self.generate_kwargs = {"max_new_tokens": max_new_tokens, "num_beams": num_beams}
        self.malformed = 0

    def generate_text(self, captions: Sequence[str]) -> list[str]:
        out = []
        for i in range(0, len(captions), self.batch_size):
            chunk = [self.prompt + c for c in captions[i : i + self.batch_size]]
            enc = self.tokenizer(chunk, return_tensors="pt", padding=True, truncation=True).to(self.device)
            with torch.no_grad():
                ids = self.model.generate(**enc, **self.generate_kwargs)
            out += self.tokenizer.batch_decode(ids, skip_special_tokens=True)
        return out

    def parse(self, captions: Sequence[str]) -> list[SceneGraph]:
        graphs = []
        for caption, text in zip(captions, self.generate_text(list(captions))):
            g, bad = parse_factual_lenient(text, caption)
            self.malformed += bad
            graphs.append(g)
        return graphs


# ---- cache: parse each distinct caption once ------------------------------------------------------
def caption_key(caption: str, parser_name: str) -> str:
    return hashlib.sha1(f"{parser_name}\x00{caption}".encode()).hexdigest()


class GraphCache:
    """Wraps a parser with an indexed cache file (stdlib sqlite3), keyed by the hash of (parser name,
    caption): a lookup reads one row, so a loader worker's memory does not grow with the corpus.

    `parser` may be a Parser or a zero-argument factory (then `name` is required): the parser is built only
    when a caption is missing from the cache. Each process opens its own connection (loader workers fork);
    writers take turns through sqlite's lock. A JSONL cache from older bindclip versions is imported once,
    in place, the original kept beside it as `<name>.jsonl-backup`.
    """

    def __init__(self, parser, path: str | Path, name: str | None = None):
        self._parser = parser if hasattr(parser, "parse") else None
        self._factory = None if self._parser else parser
        self.name = name or parser.name
        self.path = Path(path)
        self.hits = self.misses = 0
        self.cached_fallbacks = 0  # hits whose graph was a fallback when parsed (an LLM parser's, say)
        self._db, self._pid = None, None
        if self.path.exists() and not _is_sqlite(self.path):
            _import_jsonl(self.path)
        self._connect()

    @property
    def fallbacks(self) -> Counter | None:
        """A falling-back parser's counts by reason (an LLM parser's), the cache's hits that had been
        fallbacks as "cached"; None for a parser that never falls back."""
        if not self.name.startswith("llm"):
            return None
        return Counter(getattr(self._parser, "fallbacks", None) or {}) + Counter(cached=self.cached_fallbacks)

    @property
    def parser(self) -> Parser:
        if self._parser is None:
            self._parser = self._factory()
        return self._parser

    def _connect(self):
        if self._db is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db, self._pid = sqlite3.connect(self.path, timeout=120), os.getpid()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS graphs (key TEXT PRIMARY KEY, graph TEXT NOT NULL)")
            self._db.commit()
        return self._db

    def __getstate__(self):  # a connection does not cross a fork or a pickle; the child opens its own
        return {**self.__dict__, "_db": None, "_pid": None}

    def lookup(self, captions: Sequence[str]) -> list[SceneGraph | None]:
        """The cached graph of each caption (None where missing), without parsing anything."""
        keys = [caption_key(c, self.name) for c in captions]
        db, found = self._connect(), {}
        distinct = list(dict.fromkeys(keys))
        for start in range(0, len(distinct), 500):  # sqlite's bound-parameter limit
            part = distinct[start : start + 500]
            rows = db.execute(f"SELECT key, graph FROM graphs WHERE key IN ({','.join('?' * len(part))})", part)
            found.update(rows)
        graphs = []
        for c, k in zip(captions, keys):
            record = json.loads(found[k]) if k in found else None
            self.cached_fallbacks += record is not None and "fallback" in record
            graphs.append(
                None if record is None else SceneGraph.from_dict({**record, "caption": c}, f"{self.path}: {k}")
            )
        return graphs

    def parse(self, captions: Sequence[str]) -> list[SceneGraph]:
        graphs = self.lookup(captions)
        todo = list(dict.fromkeys(c for c, g in zip(captions, graphs) if g is None))
        self.misses += len(todo)
        self.hits += len(captions) - len(todo)
        if todo:
            # lookup hands back the caller's caption; a parser's graph gets it here, once
            new = {c: SceneGraph(g.objects, g.relations, c) for c, g in zip(todo, self.parser.parse(todo))}
            # a graph the parser could not make itself (an LLM parser's rules fallback) is kept marked as one
            fallbacks = getattr(self.parser, "fallback_reasons", {})
            db = self._connect()
            with db:
                db.executemany(
                    "INSERT OR IGNORE INTO graphs VALUES (?, ?)",
                    [(caption_key(c, self.name), _graph_json(g, fallbacks.get(c))) for c, g in new.items()],
                )
            graphs = [g if g is not None else new[c] for c, g in zip(captions, graphs)]
        return graphs


def _graph_json(g: SceneGraph, fallback: str | None = None) -> str:
    d = g.to_dict()
    d.pop("caption", None)
    return json.dumps(d | ({"fallback": fallback} if fallback else {}), ensure_ascii=False)


def _is_sqlite(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(16) == b"SQLite format 3\x00"


def _import_jsonl(path: Path) -> None:
    """An older JSONL cache ({"key", "graph"} per line) into sqlite at the same path; the JSONL kept as a
    backup. A torn last line (an interrupted append) is dropped; any other bad line is an error."""
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            rows.append((record["key"], _graph_json(SceneGraph.from_dict(record["graph"], f"{path}:{lineno}"))))
        except (json.JSONDecodeError, KeyError, TypeError):
            if lineno == len(lines):
                break  # a torn last line from an interrupted write: re-parsed when met
            raise GraphFormatError(f"{path}:{lineno}: not a cache record") from None
    tmp = path.with_name(f".{path.name}.import{os.getpid()}")
    db = sqlite3.connect(tmp)
    db.execute("CREATE TABLE graphs (key TEXT PRIMARY KEY, graph TEXT NOT NULL)")
    db.executemany("INSERT OR IGNORE INTO graphs VALUES (?, ?)", rows)
    db.commit()
    db.close()
    os.replace(path, path.with_name(path.name + ".jsonl-backup"))
    os.replace(tmp, path)


PARSER_SPECS = "'spacy', 'seq2seq:/path/to/model_dir' or 'llm:MODEL@URL'"


def parser_identity(spec: str) -> str:
    """What makes two specs the same parser: an LLM's model and prompt, not the server it is asked on."""
    if spec.startswith("llm:"):
        from .llm import cache_name, parse_llm_spec

        return cache_name(parse_llm_spec(spec)[0])
    return spec


def check_parser_spec(spec: str) -> None:
    """SpecError unless `spec` names a parser make_parser can build (nothing is loaded or contacted)."""
    if spec.startswith("llm:"):
        from .llm import parse_llm_spec

        parse_llm_spec(spec)
    elif spec != "spacy" and not (spec.startswith("seq2seq:") and len(spec) > len("seq2seq:")):
        raise SpecError(f"unknown parser {spec!r}; use {PARSER_SPECS}")


def make_parser(spec: str = "spacy", cache: str | Path | None = None, **kwargs) -> Parser:
    """`spacy`, `seq2seq:MODEL_DIR` or `llm:MODEL@URL` (an OpenAI-compatible server; kwargs go to
    `LLMParser`: concurrency, timeout, max_retries, ...), optionally behind a cache file (then the parser,
    and spaCy with it, is loaded only when a caption is not cached)."""
    if spec == "spacy":
        name, build = "spacy", partial(SpacyParser, **kwargs)
    elif spec.startswith("seq2seq:"):
        name, build = "seq2seq", partial(Seq2SeqParser, spec.split(":", 1)[1])
    elif spec.startswith("llm:"):
        from .llm import LLMParser, cache_name, parse_llm_spec

        model, urls = parse_llm_spec(spec)
        prompt = {k: kwargs[k] for k in ("system_prompt", "examples") if k in kwargs}
        name, build = cache_name(model, **prompt), partial(LLMParser, model, urls, **kwargs)
    else:
        raise SpecError(f"unknown parser {spec!r}; use {PARSER_SPECS}")
    return GraphCache(build, cache, name=name) if cache else build()
