"""The model card every evaluated model gets (`reports/eval/model_card.md`): what the model is, how
it was evaluated, its results, and what it is for and not for, in the sections of "Model Cards for
Model Reporting" (Mitchell et al., 2019) and of Hugging Face's model cards. Every figure comes
from the metrics evaluate computed, formatted by `figure`, so the card can be checked against them.
"""

from __future__ import annotations

from typing import Any


def figure(value: float) -> str:
    return f"{value:.4f}"


def model_card(metrics: dict[str, Any], manifest: dict[str, Any], about: dict[str, Any]) -> str:
    """`about`: the model's facts evaluate does not compute: `model` (architecture or members),
    `parameters`, `commit`, `experiment`, `reproduce` (the command)."""
    test, calibration = metrics["test"], metrics["calibration"]
    synthetic = manifest["data"] == "synthetic"
    names = list(test.get("per_class", {}))
    interval = test.get("accuracy_ci95", [float("nan")] * 2)
    lines = [
        *(
            [
                "**SYNTHETIC DATA: this model was trained and evaluated on ferpipe's generated faces, not on FER2013; "
                "its figures say nothing about real faces.**",
                "",
            ]
            if synthetic
            else []
        ),
        f"# Model card: {about['model']}, {manifest['labels']} labels",
        "",
        "## Model details",
        "",
        f"- Architecture: {about['model']}, {about['parameters']:,} parameters; input a 48x48 grey face "
        "(uint8 pixels), output one probability per class: " + ", ".join(names) + ".",
        f"- Labels: `{manifest['labels']}`; evaluated against {metrics['evaluated_on']} labels.",
        f"- Training data: {manifest['data']} ({manifest.get('source')}), sha256 `{manifest.get('source_sha256')}`.",
        f"- Code: git commit `{about['commit'] or 'unknown'}`; DVC experiment `{about['experiment'] or 'none'}`.",
        f"- Reproduce: `{about['reproduce']}`",
        "",
        "## How it was evaluated",
        "",
        "Trained on Training, the epoch (and any recipe choice) selected on PublicTest, reported on "
        f"{metrics['split']}, touched once. Test-time augmentation: `{metrics['tta']}`. "
        + (
            "Probabilities are calibrated by temperature scaling fitted on PublicTest only."
            if calibration["method"] == "temperature"
            else "Probabilities are not calibrated (evaluate.calibration: none)."
        ),
        "",
        "## Results",
        "",
        "| figure | value |",
        "|---|---|",
        f"| accuracy ({test.get('rows', 0):,} faces) | {figure(test.get('accuracy', float('nan')))} "
        f"(95% CI {figure(interval[0])}–{figure(interval[1])}) |",
        f"| accuracy on faces whose image is not in Training | {_or_none(metrics['test_unseen_in_train'], 'accuracy')} |",
        f"| balanced accuracy | {_or_none(test, 'balanced_accuracy')} |",
        f"| macro-F1 | {_or_none(test, 'macro_f1')} |",
        f"| PublicTest accuracy (selection) | {figure(metrics['val_accuracy'])} |",
        '| Keras\' binary accuracy on one-hot labels, not an accuracy (behind the "88.6%" of the project '
        f"ferpipe grew from; an all-zeros output scores {figure(metrics['all_zeros_binary_accuracy'])}) "
        f"| {figure(metrics['seed_binary_accuracy'])} |",
        "",
        "Recall per class: " + ", ".join(f"{name} {figure(test['per_class'][name]['recall'])}" for name in names) + ".",
        "",
        f"Calibration, before and after temperature scaling (T = {figure(calibration['temperature'])}):",
        "",
        "| | ECE (15 bins) | class-wise ECE | Brier | log loss |",
        "|---|---|---|---|---|",
        *(
            f"| {when} | "
            + " | ".join(_or_none(calibration[when], key) for key in ("ece", "classwise_ece", "brier", "log_loss"))
            + " |"
            for when in ("before", "after")
        ),
        "",
        "![Confusion matrix](confusion_matrix_normalized.png) ![Reliability](reliability.png)",
        "",
        "## Intended use",
        "",
        "Research on facial-expression recognition, benchmarking against FER2013's published results, teaching, "
        "and prototypes that show a person their own expression.",
        "",
        "## Out of scope",
        "",
        "- Inferring the emotions of people at work or in education: the EU AI Act (Article 5(1)(f)) prohibits "
        "it outside medical or safety reasons.",
        "- Hiring, policing, border control, lie detection, credit or insurance, or any decision about a person.",
        "- Claims about what a person feels: it scores the appearance of a face, not an inner state.",
        "",
        "## Limitations",
        "",
        "- FER2013 is 48x48 grey web images collected in 2013 by keyword search; its labels are noisy: the FER+ "
        "relabelling names another expression for about a third of the faces it keeps.",
        "- The people in it are of unknown age, gender and ethnicity; the model's accuracy on any group is unmeasured.",
        "- Posed and spontaneous expressions are mixed; subtle, mixed or culturally specific expressions are not covered.",
        "- Faces that the detector misses (profiles, occlusion, low light) are never scored; 48x48 crops of other "
        "sources differ from FER2013's alignment.",
        "- Calibration holds for data like PublicTest: probabilities on other kinds of faces may not mean what they say.",
    ]
    return "\n".join(lines) + "\n"


def _or_none(figures: dict[str, Any], key: str) -> str:
    value = figures.get(key)
    return figure(value) if value is not None else "n/a"
