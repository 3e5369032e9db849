"""Cut documents into overlapping chunks of at most ``chunk_size`` characters.

A chunk ends at the last paragraph break in its second half, else the last line break, sentence end or
space, so that words and (where possible) sentences stay whole; the next chunk starts ``overlap``
characters before that end, at a word boundary, so a sentence cut at the end of one chunk is whole in the
next. Leading and trailing white space is trimmed; offsets point into the original text.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_CHUNK_SIZE = 500
DEFAULT_CHUNK_OVERLAP = 100
MIN_CHUNK_SIZE = 50
# Preferred places to end a chunk, best first.
SEPARATORS = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")


@dataclass(frozen=True)
class Chunk:
    """A piece of one source: ``text == source_text[start:end]``; ``number`` counts chunks within the source."""

    source: str
    number: int
    start: int
    end: int
    text: str

    @property
    def chunk_id(self) -> str:
        return f"{self.source}#{self.number}"

    def to_json(self) -> dict[str, object]:
        return {
            "chunk_id": self.chunk_id,
            "source": self.source,
            "number": self.number,
            "start": self.start,
            "end": self.end,
            "text": self.text,
        }

    @classmethod
    def from_json(cls, record: dict[str, object]) -> Chunk:
        return cls(
            source=str(record["source"]),
            number=int(record["number"]),
            start=int(record["start"]),  # type: ignore[arg-type]
            end=int(record["end"]),
            text=str(record["text"]),
        )  # type: ignore[arg-type]


def check_sizes(chunk_size: int, overlap: int) -> None:
    if chunk_size < MIN_CHUNK_SIZE:
        raise ValueError(f"chunk size {chunk_size} is too small (at least {MIN_CHUNK_SIZE} characters)")
    if not 0 <= overlap < chunk_size // 2:
        raise ValueError(f"overlap {overlap} must be at least 0 and less than half the chunk size ({chunk_size // 2})")


def split_spans(
    text: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_CHUNK_OVERLAP
) -> list[tuple[int, int]]:
    """``(start, end)`` of each chunk of ``text``, trimmed of white space; empty text gives none."""
    check_sizes(chunk_size, overlap)
    spans: list[tuple[int, int]] = []
    length, start = len(text), 0
    while start < length:
        end = min(start + chunk_size, length)
        if end < length:
            earliest = start + chunk_size // 2  # never cut the chunk to less than half its size
            for separator in SEPARATORS:
                cut = text.rfind(separator, earliest, end)
                if cut != -1:
                    end = cut + len(separator)
                    break
        trimmed_start, trimmed_end = start, end
        while trimmed_start < trimmed_end and text[trimmed_start].isspace():
            trimmed_start += 1
        while trimmed_end > trimmed_start and text[trimmed_end - 1].isspace():
            trimmed_end -= 1
        if trimmed_end > trimmed_start:
            spans.append((trimmed_start, trimmed_end))
        if end >= length:
            break
        next_start = max(end - overlap, start + 1)
        if overlap and not text[next_start - 1].isspace():
            space = next((i for i in range(next_start, end) if text[i].isspace()), None)
            if space is not None:
                next_start = space + 1  # start the overlap at a word, not inside one
        start = next_start
    return spans


def split_document(
    source: str, text: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_CHUNK_OVERLAP
) -> list[Chunk]:
    return [
        Chunk(source=source, number=number, start=start, end=end, text=text[start:end])
        for number, (start, end) in enumerate(split_spans(text, chunk_size=chunk_size, overlap=overlap))
    ]
