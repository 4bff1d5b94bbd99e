"""Does distillation beat training from labels alone? Same student, same data, 3 seeds.

On the MNIST split every sample uses (8,000 train / 2,000 test digits), a teacher is trained
once (default: ``samples/teacher_cnn.py``, 871,210 parameters, trained with random shifts of up
to 2 pixels); then a student (default: ``samples/mlp.py``, 101,770 parameters, 0.117 of the
teacher) is trained per seed twice, from the labels alone and with distillation, with the same
epochs, learning-rate schedule, data order and seed; only the loss differs. Accuracy is measured
through the LiteRT interpreter on the float32 ``.tflite`` of each student. The table reports
each seed, the mean, and the seed-to-seed spread (max - min) of both, and whether the margin
beats the larger spread.

What the teacher can teach is what the student cannot get from the labels: by default the
student sees the digits as given (``--shift 0``), so shift invariance reaches the MLP only
through the teacher. Give the student the same shifts (``--shift 2``) and labels-only catches
up; with SimpleCNN students (``--student samples/simple_cnn.py:build --width 0.5``), which
get shift tolerance from their convolutions, there was no gain either. The settings (teacher,
student, alpha 0.1, T 4, cosine decay over 30 epochs) were chosen on a hold-out of the training
digits (``--validate 1500``), never on the test split.

    python benchmarks/distill_vs_labels.py [--seeds 0 1 2] [--json out.json] [--teacher-cache t.keras]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "samples")]


def main(argv=None) -> int:
    args = parse_args(argv)
    from edgekit._compat import seed_everything
    from edgekit.data.load import load_dataset
    from edgekit.recipe import DataSpec
    from edgekit.training.train import TrainData


    dataset = load_dataset(DataSpec(source="mnist"))
    x, y = dataset.normalize(dataset.x_train), dataset.y_train
    x_test, y_test = dataset.normalize(dataset.x_test), dataset.y_test
    if args.validate:  # choose settings on held-out training digits, never on the test split
        x, y, x_test, y_test = x[: -args.validate], y[: -args.validate], x[-args.validate :], y[-args.validate :]
    started = time.perf_counter()
    teacher = load_or_train_teacher(x, y, args)
    teacher_accuracy = interpreter_accuracy(teacher, x_test, y_test)
    print(f"teacher: {teacher.count_params():,} parameters, {teacher_accuracy * 100:.2f} % ({time.perf_counter() - started:.0f} s)", flush=True)

    results = {}
    for epochs in args.student_epochs:
        rows = []
        for seed in args.seeds:
            data = TrainData(x, y, batch_size=64, seed=seed, shift=args.shift)
            accuracies = {}
            for mode in ("labels", "distilled"):
                seed_everything(seed)
                student = make_model(args.student, width=args.width)
                train_student(student, teacher, data, mode, epochs, args)
                accuracies[mode] = interpreter_accuracy(student, x_test, y_test)
            rows.append({"seed": seed, **accuracies})
            print(f"{epochs} epochs, seed {seed}: labels {accuracies['labels'] * 100:.2f} %  distilled {accuracies['distilled'] * 100:.2f} %", flush=True)
        results[epochs] = {"rows": rows, "summary": summarise(rows, teacher, student, teacher_accuracy, epochs, args)}
    for epochs, result in results.items():
        print(f"\n{epochs} student epochs ({'validation hold-out' if args.validate else 'test split'}):")
        print(format_table(result["rows"], result["summary"]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def load_or_train_teacher(x, y, args):
    """The ``--teacher`` model, trained once (and cached in ``--teacher-cache`` if given)."""
    from edgekit._compat import keras, seed_everything
    from edgekit.training.train import TrainData, fit


    cache = Path(args.teacher_cache) if args.teacher_cache else None
    if cache is not None and cache.exists():
        return keras().models.load_model(cache, compile=False)
    seed_everything(0)
    teacher = make_model(args.teacher, width=args.teacher_width)
    data = TrainData(x, y, batch_size=64, seed=0, shift=args.teacher_shift)
    fit(teacher, data, epochs=args.teacher_epochs, learning_rate=schedule(1e-3, data, args.teacher_epochs, args), stage="teacher")
    if cache is not None:
        teacher.save(cache)
    return teacher


def make_model(factory: str, *, width: float):
    """An untrained model from a ``FILE.py:FUNCTION`` factory (relative to the repository)."""
    from edgekit.models.load import load_factory

    return load_factory(factory, base_dir=ROOT)(input_shape=(28, 28, 1), num_classes=10, width=width)


def train_student(student, teacher, data, mode: str, epochs: int, args) -> None:
    import dataclasses

    from edgekit.compression.distill import Teacher
    from edgekit.training.train import fit

    if mode == "distilled":
        data = dataclasses.replace(data, teacher=Teacher(teacher, alpha=args.alpha, temperature=args.temperature))
    rate = schedule(args.learning_rate, data, epochs, args)
    fit(student, data, epochs=epochs, learning_rate=rate, stage=f"{mode} student")


def schedule(rate: float, data, epochs: int, args):
    """Constant, or cosine-decayed to zero over the run: the last epoch's weights are then a
    settled point rather than a sample of Adam's noise, which shrinks the seed-to-seed spread."""
    from edgekit._compat import keras

    if args.schedule == "constant":
        return rate
    return keras().optimizers.schedules.CosineDecay(rate, decay_steps=data.steps_per_epoch * epochs)


def interpreter_accuracy(model, x, y) -> float:
    from edgekit.converters.keras_tflite import convert_keras
    from edgekit.runtime import open_model
    from edgekit.training.train import top1_accuracy

    return top1_accuracy(open_model(convert_keras(model)).predict(x), y)


def summarise(rows, teacher, student, teacher_accuracy, epochs, args) -> dict:
    labels = [row["labels"] for row in rows]
    distilled = [row["distilled"] for row in rows]
    spread = max(max(labels) - min(labels), max(distilled) - min(distilled))
    margin = statistics.mean(distilled) - statistics.mean(labels)
    return {
        "teacher_params": int(teacher.count_params()),
        "student_params": int(student.count_params()),
        "params_ratio": round(student.count_params() / teacher.count_params(), 4),
        "teacher_accuracy": round(teacher_accuracy, 5),
        "labels_mean": round(statistics.mean(labels), 5),
        "distilled_mean": round(statistics.mean(distilled), 5),
        "labels_spread": round(max(labels) - min(labels), 5),
        "distilled_spread": round(max(distilled) - min(distilled), 5),
        "margin": round(margin, 5),
        "margin_beats_spread": margin > spread,
        "student_epochs": epochs,
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "student_epochs")},
    }


def format_table(rows, summary) -> str:
    lines = ["| seed | labels only | distilled |", "|---|---|---|"]
    lines += [f"| {r['seed']} | {r['labels'] * 100:.2f} % | {r['distilled'] * 100:.2f} % |" for r in rows]
    lines.append(f"| mean | {summary['labels_mean'] * 100:.2f} % | {summary['distilled_mean'] * 100:.2f} % |")
    lines.append(f"| spread (max-min) | {summary['labels_spread'] * 100:.2f} | {summary['distilled_spread'] * 100:.2f} |")
    lines.append("")
    lines.append(
        f"student {summary['student_params']:,} parameters = {summary['params_ratio']:.3f} of the teacher's "
        f"{summary['teacher_params']:,} (teacher {summary['teacher_accuracy'] * 100:.2f} %); margin "
        f"{summary['margin'] * 100:+.2f} points, larger than the seed spread: {summary['margin_beats_spread']}"
    )
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--teacher", default="samples/teacher_cnn.py:build", help="teacher factory FILE.py:FUNCTION")
    parser.add_argument("--teacher-width", type=float, default=1.0)
    parser.add_argument("--student", default="samples/mlp.py:build", help="student factory FILE.py:FUNCTION")
    parser.add_argument("--width", type=float, default=1.0, help="student width multiplier")
    parser.add_argument("--teacher-epochs", type=int, default=30)
    parser.add_argument(
        "--student-epochs", type=int, nargs="+", default=[30],
        help="training budgets to compare at (each is a full cosine schedule)",
    )
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--schedule", choices=("cosine", "constant"), default="cosine", help="learning-rate schedule (teacher and both students)")
    parser.add_argument("--shift", type=int, default=0, help="random translations in pixels for the students (both see the same)")
    parser.add_argument("--teacher-shift", type=int, default=2, help="random translations in pixels while training the teacher")
    parser.add_argument("--json", help="also write the rows and summary to this file")
    parser.add_argument("--teacher-cache", help="a .keras file: load the teacher from it, or save it there once trained")
    parser.add_argument("--validate", type=int, default=0, help="hold out the last N training digits and score on them instead of the test split (for choosing settings)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
