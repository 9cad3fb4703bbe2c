"""The seq2seq parser on a tiny random T5 built here (no download): loading from a local
directory, batching, and turning generated FACTUAL text into graphs."""

import pytest

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from bindclip.graphs import SceneGraph, SGObject, SGRelation  # noqa: E402
from bindclip.graphs.parse import Parser, Seq2SeqParser, make_parser  # noqa: E402

WORDS = "( ) , is man ride horse brown a the on riding generate scene graph : red circle".split()


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers

    d = tmp_path_factory.mktemp("tiny_t5")
    vocab = {t: i for i, t in enumerate(["<pad>", "</s>", "<unk>"] + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    fast.save_pretrained(d)
    cfg = transformers.T5Config(
        vocab_size=len(vocab),
        d_model=16,
        d_kv=4,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    transformers.set_seed(0)
    transformers.T5ForConditionalGeneration(cfg).save_pretrained(d)
    return d


def test_loads_locally_and_gives_one_graph_per_caption(tiny_t5):
    p = Seq2SeqParser(tiny_t5, batch_size=2, max_new_tokens=12)
    assert isinstance(p, Parser)
    caps = ["a man riding a brown horse", "a red circle", ""]
    graphs = p.parse(caps)
    assert [g.caption for g in graphs] == caps
    assert all(isinstance(g, SceneGraph) for g in graphs)
    assert len(p.generate_text(caps)) == 3
    assert isinstance(make_parser(f"seq2seq:{tiny_t5}"), Seq2SeqParser)


def test_generated_text_to_graph(tiny_t5, monkeypatch):
    p = Seq2SeqParser(tiny_t5)
    monkeypatch.setattr(
        p,
        "generate_text",
        lambda caps: [
            "( man , ride , horse ) , ( horse , is , brown )",
            "( circle , is , red ) , ( broken , tuple ) , ( circle )",
            "",
        ],
    )
    g1, g2, g3 = p.parse(["a man riding a brown horse", "a red circle", ""])
    assert g1.objects == (SGObject("man"), SGObject("horse", ("brown",)))
    assert g1.relations == (SGRelation(0, "ride", 1),)
    assert g2.objects == (SGObject("circle", ("red",)),) and p.malformed == 1
    assert g3 == SceneGraph(caption="")


def test_missing_model_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a local model directory"):
        Seq2SeqParser(tmp_path)
