"""Each benchmark on a tiny fixture in its published format, with an accuracy computed by hand.

The ColourScorer's answers are known (see colour_scorer.py), and every fixture holds one tie, which
pins the benchmark's official tie rule."""

import json

import pytest
from colour_scorer import ColourScorer, save_colour, save_split

from bindclip.eval.aro import MIN_GROUP, evaluate_aro, excluded_relations
from bindclip.eval.items import BenchmarkFormatError
from bindclip.eval.retrieval import evaluate_retrieval, read_retrieval
from bindclip.eval.sugarcrepe import evaluate_sugarcrepe, evaluate_sugarcrepe_pp
from bindclip.eval.whatsup import evaluate_whatsup
from bindclip.eval.zeroshot import evaluate_zeroshot
from conftest import SHARED


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_sugarcrepe_strict_rule_and_missing_images(tmp_path):
    save_colour(tmp_path / "val2017" / "r.jpg", "red")
    save_colour(tmp_path / "val2017" / "b.jpg", "blue")
    write(
        tmp_path / "swap_att.json",
        {
            "0": {"filename": "r.jpg", "caption": "a red car", "negative_caption": "a blue car"},  # right
            "1": {"filename": "r.jpg", "caption": "a red car", "negative_caption": "a red bus"},  # tie: wrong
            "3": {"filename": "b.jpg", "caption": "a red car", "negative_caption": "a blue car"},  # wrong
            "4": {"filename": "gone.jpg", "caption": "a red car", "negative_caption": "a blue car"},
        },
    )
    res = evaluate_sugarcrepe(ColourScorer(), tmp_path, splits=("swap_att",))["swap_att"]
    assert res.to_dict() == {
        "accuracy": round(1 / 3, 6),
        "n": 3,
        "skipped": 1,
        "ties": 1,
        "tie_rule": "strict",
        "skip_reasons": {"missing image": 1},
        "mean_margin": 0.0,
    }  # (1 + 0 - 1) / 3


def test_sugarcrepe_pp_itt_and_tot(tmp_path):
    save_colour(tmp_path / "images" / "r.jpg", "red")
    save_colour(tmp_path / "images" / "b.jpg", "blue")
    write(
        tmp_path / "swap_att.json",
        [
            {
                "id": 0,
                "filename": "r.jpg",
                "caption": "red cat",
                "caption2": "a red kitten",
                "negative_caption": "blue cat",
            },
            {"id": 1, "filename": "r.jpg", "caption": "red cat", "caption2": "cat red", "negative_caption": "red cat"},
            {
                "id": 2,
                "filename": "b.jpg",
                "caption": "red cat",
                "caption2": "blue cat",
                "negative_caption": "green cat",
            },
        ],
    )
    out = evaluate_sugarcrepe_pp(ColourScorer(), tmp_path, splits=("swap_att",))
    itt, tot = out["swap_att-itt"].to_dict(), out["swap_att-tot"].to_dict()
    assert (itt["accuracy"], itt["n"], itt["ties"], itt["degenerate"]) == (round(1 / 3, 6), 3, 1, 1)
    assert (tot["accuracy"], tot["n"]) == (round(1 / 3, 6), 3)


def test_sugarcrepe_pp_format_errors_name_the_entry(tmp_path):
    write(tmp_path / "swap_att.json", [{"id": 0, "filename": "r.jpg", "caption": "x", "negative_caption": "y"}])
    with pytest.raises(BenchmarkFormatError, match=r"swap_att.json: entry 0 has no str 'caption2'"):
        evaluate_sugarcrepe_pp(ColourScorer(), tmp_path, splits=("swap_att",))


def vg(image, box, true, false, **key):
    x, y, w, h = box
    return {
        "image_path": image,
        "bbox_x": x,
        "bbox_y": y,
        "bbox_w": w,
        "bbox_h": h,
        "true_caption": true,
        "false_caption": false,
        **key,
    }


def test_aro_vg_relation_macro_crops_and_exclusions(tmp_path):
    save_split(tmp_path / "images" / "rb.jpg", "red", "blue")
    left, right = (0, 0, 10, 20), (10, 0, 10, 20)
    excluded = sorted(excluded_relations())[0]
    write(
        tmp_path / "visual_genome_relation.json",
        [
            vg("rb.jpg", left, "the red cup on the table", "the blue cup on the table", relation_name="on"),  # right
            vg("rb.jpg", right, "the red cup on the table", "the blue cup on the table", relation_name="on"),  # wrong
            vg(
                "rb.jpg", left, "red x holding y", "red y holding x", relation_name="holding"
            ),  # tie: wrong (false first)
            vg("rb.jpg", left, "red x", "blue x", relation_name=excluded),  # dropped by the protocol
            vg("gone.jpg", left, "red x", "blue x", relation_name="holding"),
        ],
    )
    res = evaluate_aro(ColourScorer(), tmp_path)["vg-relation"].to_dict()
    assert res["accuracy"] == 0.25  # mean of on (1/2) and holding (0/1)
    assert res["item_accuracy"] == round(1 / 3, 6) and res["groups"] == 2 and res["ties"] == 1
    assert res["skip_reasons"] == {"missing image": 1, "relation excluded by the ARO protocol": 1}


def test_aro_vg_attribution_drops_small_pairs(tmp_path):
    save_split(tmp_path / "images" / "rb.jpg", "red", "blue")
    left = (0, 0, 10, 20)
    recs = [vg("rb.jpg", left, "the red car", "the blue car", attributes=["red", "blue"]) for _ in range(20)]
    recs += [vg("rb.jpg", left, "the red car", "the red bus", attributes=["red", "blue"]) for _ in range(5)]  # ties
    recs += [vg("rb.jpg", left, "the red car", "the blue car", attributes=["big", "small"])]  # a pair of 1 item
    assert len(recs) - 1 == MIN_GROUP
    write(tmp_path / "visual_genome_attribution.json", recs)
    res = evaluate_aro(ColourScorer(), tmp_path)["vg-attribution"].to_dict()
    assert (res["accuracy"], res["n"], res["ties"], res["skipped"], res["groups"]) == (0.8, 25, 5, 1, 1)


def test_aro_order_ties_are_right_and_shuffles_are_stored(tmp_path):
    save_colour(tmp_path / "val2014" / "r.jpg", "red")
    ann = write(
        tmp_path / "coco_karpathy_test.json",
        [{"image": "val2014/r.jpg", "caption": ["A red car parked on the old road.", "Two blue cars!"]}],
    )
    res = evaluate_aro(ColourScorer(), tmp_path)["coco-order"].to_dict()
    assert (res["accuracy"], res["n"], res["ties"]) == (1.0, 2, 2)  # every shuffle names the same colours
    stored = json.loads(ann.with_name("coco_karpathy_test.bindclip-order.json").read_text())
    first = stored["cases"][0]["options"]
    assert first[0] == "a red car parked on the old road" and len(first) == 5
    assert sorted(first[1].split()) == sorted(first[0].split()) and stored["seed"] == 1
    assert evaluate_aro(ColourScorer(), tmp_path)["coco-order"].to_dict() == res  # read back, not redrawn


def test_whatsup_controlled_pair_and_set_and_qa(tmp_path):
    folder = tmp_path / "controlled_images"
    records = []
    for rel, colour, options in [
        ("left_of", "red", ["a red mug", "a blue mug", "a green mug", "a white mug"]),  # right
        ("right_of", "red", ["a blue mug", "a blue mug left", "a green mug", "a white mug"]),  # tie: right
        ("on", "blue", ["a red mug", "a blue mug", "a green mug", "a white mug"]),  # wrong
        ("under", "red", ["a red mug", "a blue mug", "a green mug", "a white mug"]),
    ]:  # right
        save_colour(folder / f"mug_{rel}_plate.jpeg", colour)
        records.append({"image_path": f"data/controlled_images/mug_{rel}_plate.jpeg", "caption_options": options})
    write(tmp_path / "controlled_images_dataset.json", records)
    save_colour(tmp_path / "val2017" / "000000000001.jpg", "red")
    save_colour(tmp_path / "val2017" / "000000000002.jpg", "red")
    write(
        tmp_path / "coco_qa_one_obj.json",
        [
            [1, "a red dog on the left", "a blue dog on the left"],
            ["2", "a blue dog on the right", "a red dog on the right"],
        ],
    )
    out = evaluate_whatsup(ColourScorer(), tmp_path)
    a = out["controlled-a"].to_dict()
    assert (a["accuracy"], a["ties"], a["pair_accuracy"], a["set_accuracy"]) == (0.75, 1, 0.5, 0.0)
    assert out["coco-one"].to_dict()["accuracy"] == 0.5 and set(out) == {"controlled-a", "coco-one"}


def test_whatsup_bad_image_path_is_named(tmp_path):
    write(tmp_path / "controlled_clevr_dataset.json", [{"image_path": "cube.jpeg", "caption_options": ["a"] * 4}])
    with pytest.raises(BenchmarkFormatError, match=r"controlled_clevr_dataset.json: entry 0: image_path 'cube.jpeg'"):
        evaluate_whatsup(ColourScorer(), tmp_path)


def test_zeroshot_image_folder(tmp_path):
    save_colour(tmp_path / "red_thing" / "a.png", "red")
    save_colour(tmp_path / "red_thing" / "b.png", "red")
    save_colour(tmp_path / "blue_thing" / "c.png", "blue")
    save_colour(tmp_path / "blue_thing" / "d.png", "red")  # misclassified
    (tmp_path / "blue_thing" / "e.png").write_bytes(b"not a png")
    (tmp_path / "templates.txt").write_text("a photo of a {c}.\na {c}\n")
    res = evaluate_zeroshot(ColourScorer(), tmp_path)[tmp_path.name].to_dict()
    assert (res["accuracy"], res["n"], res["skipped"], res["classes"]) == (0.75, 4, 1, 2)
    assert res["mean_per_class_recall"] == 0.75 and res["acc5"] is None
    (tmp_path / "classnames.txt").write_text("only one\n")
    with pytest.raises(BenchmarkFormatError, match="1 names for 2 class folders"):
        evaluate_zeroshot(ColourScorer(), tmp_path)


def test_retrieval_recalls_both_directions(tmp_path):
    save_colour(tmp_path / "r.png", "red")
    save_colour(tmp_path / "b.png", "blue")
    ann = write(
        tmp_path / "test.json",
        [
            {"image": "r.png", "caption": ["a red car", "red bus"]},
            {"image": "b.png", "caption": ["a blue sky", "red red blue"]},
            {"image": "gone.png", "caption": ["a white wall"]},
        ],
    )
    res = evaluate_retrieval(ColourScorer(), ann)["test"].to_dict()
    assert res["text_to_image"] == {"r@1": 0.75, "r@5": 1.0, "r@10": 1.0}
    assert res["image_to_text"]["r@1"] == 1.0 and (res["n"], res["skipped"], res["captions"]) == (2, 1, 4)


def test_retrieval_reads_every_karpathy_format(tmp_path):
    karpathy = write(
        tmp_path / "dataset_coco.json",
        {
            "dataset": "coco",
            "images": [
                {
                    "filename": "a.jpg",
                    "filepath": "val2014",
                    "split": "test",
                    "sentences": [{"raw": "x"}, {"raw": "y"}],
                },
                {"filename": "b.jpg", "filepath": "train2014", "split": "train", "sentences": [{"raw": "z"}]},
            ],
        },
    )
    coco = write(
        tmp_path / "coco_test_karpathy.json",
        {
            "images": [{"id": 7, "file_name": "a.jpg"}],
            "annotations": [{"image_id": 7, "id": 1, "caption": "x"}, {"image_id": 7, "id": 2, "caption": "y"}],
        },
    )
    csv = tmp_path / "flickr30k_test_karpathy.txt"
    csv.write_text('image,caption\na.jpg,x\na.jpg,"y, with a comma"\n')
    assert read_retrieval(karpathy, tmp_path) == [(tmp_path / "val2014" / "a.jpg", ["x", "y"])]
    assert read_retrieval(coco, tmp_path) == [(tmp_path / "a.jpg", ["x", "y"])]
    assert read_retrieval(csv, tmp_path) == [(tmp_path / "a.jpg", ["x", "y, with a comma"])]
    csv.write_text("img,text\n")
    with pytest.raises(BenchmarkFormatError, match="line 1 must be the header"):
        read_retrieval(csv, tmp_path)


def test_structured_scorer_scores_items_whose_caption_parses_to_nothing_and_counts_them(tmp_path):
    from bindclip.eval.scorer import Scorer
    from conftest import small_oc_clip

    save_colour(tmp_path / "val2017" / "r.jpg", "red")
    write(
        tmp_path / "swap_att.json",
        {
            "0": {"filename": "r.jpg", "caption": "a red car", "negative_caption": "a blue car"},
            "1": {"filename": "r.jpg", "caption": "a red car", "negative_caption": "..."},
        },
    )
    res = evaluate_sugarcrepe(Scorer(small_oc_clip(), "oc"), tmp_path, splits=("swap_att",))["swap_att"]
    assert (res.n, res.skipped, res.extra["empty_graph_fallbacks"]) == (2, 0, 1)  # the same items as CLIP


REAL = SHARED / "data"


@pytest.mark.skipif(not REAL.is_dir(), reason="shared data not present")
def test_real_sugarcrepe_files_with_some_images(tmp_path):
    """The published swap_obj file; images only for two COCO files: every other item is a counted skip."""
    data = json.loads((REAL / "sugarcrepe" / "swap_obj.json").read_text())
    names = sorted({v["filename"] for v in data.values()})[:2]
    for name in names:
        save_colour(tmp_path / name, "red")
    res = evaluate_sugarcrepe(ColourScorer(), REAL / "sugarcrepe", str(tmp_path))["swap_obj"]
    expected = sum(v["filename"] in names for v in data.values())
    assert (res.n, res.n + res.skipped) == (expected, 245) and res.skip_reasons == {"missing image": 245 - expected}
    assert res.ties == expected  # colour-blind captions: every pair ties, and strict counts ties wrong
    assert res.accuracy == 0.0


@pytest.mark.skipif(not REAL.is_dir(), reason="shared data not present")
def test_real_sugarcrepe_pp_files(tmp_path):
    from bindclip.eval.sugarcrepe import PP_SPLITS, read_pp_split

    root = REAL / "bench_formats" / "sugarcrepe_pp"
    counts = {s: len(read_pp_split(root / f"{s}.json")) for s in PP_SPLITS}
    assert counts == {"replace_att": 788, "replace_obj": 1652, "replace_rel": 1406, "swap_att": 666, "swap_obj": 245}
    swap = read_pp_split(root / "swap_obj.json")
    assert [p.id for p in swap if p.caption == p.negative] == ["2", "8"]
    out = evaluate_sugarcrepe_pp(ColourScorer(), root, str(tmp_path), splits=("swap_obj",))
    assert out["swap_obj-itt"].skipped == 245 and out["swap_obj-tot"].n == 245
    assert out["swap_obj-tot"].extra["degenerate"] == 2


def test_choice_margin_is_worst_right_minus_best_wrong():
    import torch

    from bindclip.eval.items import ChoiceItem, choice_result

    items = [ChoiceItem("a", None, ["x", "y", "z"]), ChoiceItem("b", None, ["x", "y", "z"], correct=(0, 1))]
    scores = {"a": torch.tensor([0.9, 0.5, 0.7]), "b": torch.tensor([0.4, 0.6, 0.5])}
    res, verdicts = choice_result(items, scores, skipped={}, rule="strict")
    assert verdicts == {"a": True, "b": False}  # b: 0.4 (a right option) is below 0.5 (the wrong one)
    assert res.to_dict()["mean_margin"] == pytest.approx(((0.9 - 0.7) + (0.4 - 0.5)) / 2)


def test_aro_order_shuffles_nouns_among_nouns_and_adjectives_among_adjectives():
    """The official perturbations.py shuffles the two classes apart (one pool would put "red" where a noun
    was); the second perturbation moves only the other words."""
    import random

    from bindclip.eval.aro import ADJ_TAGS, NOUN_TAGS, perturbations
    from bindclip.graphs.nlp import load_pipeline

    nlp = load_pipeline(("ner", "parser", "lemmatizer"))
    caption = "a red car and a small blue house near the old tree with green leaves"
    doc = nlp(caption)
    words = [t.text for t in doc]
    for seed in range(20):
        first, second, _, _ = (p.split() for p in perturbations(caption, nlp, random.Random(seed)))
        for i, t in enumerate(doc):
            kind = [
                words[j]
                for j, u in enumerate(doc)
                if (u.tag_ in NOUN_TAGS) == (t.tag_ in NOUN_TAGS) and (u.tag_ in ADJ_TAGS) == (t.tag_ in ADJ_TAGS)
            ]
            assert first[i] in kind and second[i] in kind
            if t.tag_ in NOUN_TAGS + ADJ_TAGS:
                assert second[i] == words[i]
