"""The text splitter: chunk sizes, overlap, boundaries, offsets."""

from __future__ import annotations

import pytest

from modelsmith.rag.splitter import split_document, split_spans

TEXT = " ".join(f"Sentence number {n} says something about topic {n % 7}." for n in range(60))


def test_chunks_respect_the_size_and_cover_the_text() -> None:
    chunks = split_document("doc.md", TEXT, chunk_size=200, overlap=40)
    assert len(chunks) > 5
    assert all(len(chunk.text) <= 200 for chunk in chunks)
    assert all(chunk.text == TEXT[chunk.start : chunk.end] for chunk in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(TEXT)
    for before, after in zip(chunks, chunks[1:]):
        assert after.start < before.end  # neighbours overlap: nothing falls between two chunks
        assert before.end - after.start <= 40 + 1
    assert [chunk.chunk_id for chunk in chunks[:2]] == ["doc.md#0", "doc.md#1"]


def test_chunks_end_at_sentences_and_start_at_words() -> None:
    for chunk in split_document("doc.md", TEXT, chunk_size=200, overlap=40)[:-1]:
        assert chunk.text.endswith("."), chunk.text
    for chunk in split_document("doc.md", TEXT, chunk_size=200, overlap=40):
        assert chunk.start == 0 or TEXT[chunk.start - 1] == " "


def test_paragraph_breaks_are_preferred() -> None:
    text = "First paragraph. " * 10 + "\n\n" + "Second paragraph. " * 10
    first = split_spans(text, chunk_size=300, overlap=0)[0]
    assert text[first[0] : first[1]] == ("First paragraph. " * 10).strip()


def test_text_without_spaces_is_cut_hard_and_short_text_is_one_chunk() -> None:
    assert split_spans("x" * 250, chunk_size=100, overlap=10) == [(0, 100), (90, 190), (180, 250)]
    assert split_spans("  hello world  \n", chunk_size=100, overlap=10) == [(2, 13)]
    assert split_spans("   \n\n ", chunk_size=100, overlap=10) == []


@pytest.mark.parametrize(
    ("size", "overlap", "message"),
    [
        (10, 0, "too small"),
        (100, 50, "less than half"),
        (100, -1, "at least 0"),
    ],
)
def test_bad_sizes_are_refused(size: int, overlap: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_spans(TEXT, chunk_size=size, overlap=overlap)
