"""Extraction scoring: robust JSON extraction from generated text and field-level precision / recall / F1."""

from __future__ import annotations

import pytest

from sagemaker_src.llm_lora.extraction import extract_json_object, score_extractions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"stage": "stage II"}', {"stage": "stage II"}),
        (
            'Here is the JSON: {"stage": "stage II", "treatment": "olaparib"} Hope it helps.',
            {"stage": "stage II", "treatment": "olaparib"},
        ),
        ('```json\n{"cancer_type": "melanoma"}\n```', {"cancer_type": "melanoma"}),
        ("{'stage': 'stage IV', 'response': None}", {"stage": "stage IV", "response": None}),
        ('{"output": {"stage": "stage I"}}', {"stage": "stage I"}),
        ('{broken {"stage": "stage I"}', {"stage": "stage I"}),
        ('{"stage": "stage I", "treatment": "olap', None),
        ("no json here", None),
        ("", None),
    ],
    ids=[
        "plain",
        "prose around",
        "code fence",
        "python quotes",
        "wrapped",
        "garbage first",
        "truncated",
        "none",
        "empty",
    ],
)
def test_extract_json_object(text: str, expected: dict | None) -> None:
    assert extract_json_object(text) == expected


def test_field_level_scores() -> None:
    references = [
        {"cancer_type": "breast cancer", "stage": "stage II", "treatment": "trastuzumab"},
        {"cancer_type": "melanoma", "gene_mutation": "BRAF V600E"},
    ]
    predictions = [
        # cancer_type right (case and punctuation ignored), stage wrong, treatment missed, biomarker invented.
        {"cancer_type": "Breast cancer.", "stage": "stage III", "biomarker": "HER2 positive"},
        None,  # unparseable: both reference fields missed
    ]

    scores = score_extractions(predictions, references)

    micro = scores["micro"]
    assert (micro["true_positives"], micro["false_positives"], micro["false_negatives"]) == (1, 2, 4)
    assert micro["precision"] == pytest.approx(1 / 3, abs=1e-4)
    assert micro["recall"] == pytest.approx(1 / 5, abs=1e-4)
    assert micro["f1"] == pytest.approx(2 * (1 / 3) * (1 / 5) / (1 / 3 + 1 / 5), abs=1e-4)
    assert scores["unparseable"] == 1 and scores["records"] == 2
    assert scores["per_field"]["cancer_type"]["recall"] == 0.5
    assert scores["per_field"]["biomarker"]["precision"] == 0.0 and scores["per_field"]["biomarker"]["support"] == 0


def test_perfect_and_all_unparseable() -> None:
    references = [{"stage": "stage I"}, {"stage": "stage II", "response": "complete response"}]

    assert score_extractions(references, references)["micro"]["f1"] == 1.0
    nothing = score_extractions([None, None], references)["micro"]
    assert (nothing["precision"], nothing["recall"], nothing["f1"], nothing["false_negatives"]) == (0.0, 0.0, 0.0, 3)
