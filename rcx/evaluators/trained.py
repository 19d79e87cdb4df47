"""``trained``: train the architecture itself, the ground truth the proxies are compared with.

Head: flatten + linear (seed 000). Defaults are seed 000's settings (Evans et al., Table I:
SGD momentum 0.9, weight decay 4e-5, batch 32, 10 epochs, cosine schedule, pad-4 crop + flip,
dataset normalisation) except the learning rate: seed 000's max lr 0.1 made depth-3
``depthmult`` nets diverge in their first epoch here, while 0.02 (cosine down to 0.0002,
the seed's 100:1 ratio) trained them, so ``lr = 0.02``, ``min_lr = 0.0002`` are the defaults
and ``preset = "seed000"`` restores 0.1 -> 0.001. A non-finite loss ends the evaluation with
status ``diverged`` and the step (``diverged_step``).

What it reproduces: seed 000's trained ground truth (examples/seed000_depth_study.toml), the
trained baseline of seeds 003 and 004 (there through ``lc_frozen`` E = 0 learnable and
``partial_filters`` fraction 1), and, with a short budget, a reduced-training proxy on
NAS-Bench-201 (examples/nb201_train_short.toml: one epoch on 2,000 images;
examples/nb201_train_long.toml: 4 epochs on 5,000; docs/training.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rcx.api.evaluator import EvalContext
from rcx.api.options import Option
from rcx.evaluators.training import TRAIN_METRICS, TrainingEvaluator, train_options

if TYPE_CHECKING:
    from rcx.nn.train import Classifier

PRESETS = {"seed000": {"lr": 0.1, "min_lr": 0.001}}
"""Settings a preset sets; every other seed-000 setting is already a default."""


class Trained(TrainingEvaluator):
    name = "trained"
    version = "1"
    help = "Train the architecture (flatten + linear head): SGD, cosine lr, pad-crop + flip (seed 000's baseline)."
    headline = ("val_acc", "train_loss", "seconds")
    options = [
        Option("preset", str, "none",
               "seed000: the paper's lr 0.1 -> 0.001 (diverges on some nets; see the evaluators guide)",
               choices=("none", *PRESETS)),
        *train_options(epochs=10, batch_size=32, lr=0.02, min_lr=0.0002, momentum=0.9, nesterov=False,
                       weight_decay=4e-5, label_smoothing=0.0),
    ]
    metrics = TRAIN_METRICS

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self._preset_clash = [k for k, v in PRESETS.get(self.config["preset"], {}).items()
                              if self.config[k] != self._default(k)]
        self.config |= PRESETS.get(self.config["preset"], {})

    def _default(self, key: str) -> Any:
        return next(o.default for o in self.options if o.name == key)

    def check_plan(self, dataset_options: dict[str, Any]) -> list[tuple[str, str]]:
        problems = [(k, f"preset {self.config['preset']!r} sets {k} = {self.config[k]}; drop one of them")
                    for k in self._preset_clash]
        return problems + super().check_plan(dataset_options)

    def setup(self, model: Classifier, ctx: EvalContext) -> dict[str, Any]:
        self.init(model, ctx)
        return {}
