import json

import pytest

from bindclip.graphs.captions import CaptionFileError, read_captions


def test_txt_keeps_blank_lines(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("a cat\n\n...\r\nlast")
    assert read_captions(p) == ["a cat", "", "...", "last"]


def test_csv_and_jsonl(tmp_path):
    c = tmp_path / "c.csv"
    c.write_text('id,caption\n1,"a cat, on a mat"\n2,\n')
    assert read_captions(c) == ["a cat, on a mat", ""]
    j = tmp_path / "c.jsonl"
    j.write_text("\n".join(json.dumps({"caption": x}) for x in ["a", "b"]) + "\n")
    assert read_captions(j) == ["a", "b"]


def test_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"a cat\n\xff\xfe dog\n")
    with pytest.raises(CaptionFileError, match=r"bad.txt:2: not valid UTF-8"):
        read_captions(bad)
    assert len(read_captions(bad, encoding_errors="replace")) == 2
    nocol = tmp_path / "n.csv"
    nocol.write_text("text\nhello\n")
    with pytest.raises(CaptionFileError, match=r"n.csv: no 'caption' column"):
        read_captions(nocol)
    j = tmp_path / "c.jsonl"
    j.write_text('{"caption": "a"}\n{"text": "b"}\n')
    with pytest.raises(CaptionFileError, match=r"c.jsonl:2: record has no string field 'caption'"):
        read_captions(j)
    other = tmp_path / "x.parquet"
    other.write_text("")
    with pytest.raises(CaptionFileError, match="unknown caption file type"):
        read_captions(other)
