"""``partial_filters``: learn only a slice of every conv layer (seed 004, Rosenfeld & Tsotsos).

Per conv layer the first ``fraction`` of the output filters (rounded half up, at least 1) --
or a fixed ``count`` of them, when set -- learn (``fraction = 0``: none, every conv stays at
its random init and only BatchNorm and the head learn, the left end of the paper's curve); the
rest stays at its random init (``rest = "random"``) or is zeroed (``rest = "zero"``).
``dim = "in"`` slices input channels instead (the paper's alternative; biases then stay at
init). The frozen part is a buffer used by a second convolution (``rcx.nn.partial``): it costs
no weight gradient and no optimiser, weight decay or momentum ever moves it. ``bn_learnable``
and ``classifier_learnable`` say whether BatchNorm's affine parameters and the linear head
train.

Training defaults are the ``trained`` evaluator's (seed 000's settings with lr 0.02 -> 0.0002);
the paper used each architecture's reference training for a few epochs and gives no single
recipe. ``learned_fraction`` = learned parameters / all parameters (BN and head included).

What it reproduces (seed 004, Rosenfeld & Tsotsos): Figure 1's accuracy against the fraction
of learned filters, for a CIFAR ResNet-20-16, fractions 0 to 1: at this CPU's scale (5,000
images, 5 epochs) examples/seed004_small.toml, on all of CIFAR-10 for 10 epochs
examples/seed004_small_gpu.toml (docs/training.md; results in SCIENCE.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rcx.api.evaluator import EvalContext, InvalidArchitecture
from rcx.api.options import DESCRIPTION, Metric, Option
from rcx.evaluators.training import TRAIN_METRICS, TrainingEvaluator, param_counts, train_options
from rcx.nn.choices import PARTIAL_DIMS, PARTIAL_RESTS

if TYPE_CHECKING:

    from rcx.nn.train import Classifier


class PartialFilters(TrainingEvaluator):
    name = "partial_filters"
    version = "2"  # 2: fraction = 0 (no conv filter learns)
    help = "Train only the first fraction (or count) of each conv's filters; the rest stays random or zero (seed 004)."
    headline = ("val_acc", "learned_fraction", "seconds")
    options = [
        Option("fraction", float, 0.1, "fraction of each conv's filters that learn (0 <= f <= 1; 0: no conv "
               "filter learns, only BatchNorm and the head)", min=0.0, max=1.0),
        Option("count", int, None, "a fixed number of filters per conv instead of fraction", min=1),
        Option("dim", str, "out", "slice output filters (out) or input channels (in)", choices=PARTIAL_DIMS),
        Option("rest", str, "random", "the filters that do not learn: random init or zero", choices=PARTIAL_RESTS),
        Option("bn_learnable", bool, True, "BatchNorm affine parameters learn"),
        Option("classifier_learnable", bool, True, "the linear head learns"),
        *train_options(epochs=10, batch_size=32, lr=0.02, min_lr=0.0002, momentum=0.9, nesterov=False,
                       weight_decay=4e-5, label_smoothing=0.0),
    ]
    metrics = [
        TRAIN_METRICS[0],
        Metric("learned_params", "count", False, "parameters that train", role=DESCRIPTION),
        Metric("learned_fraction", "fraction", False, "learned parameters / all parameters", role=DESCRIPTION),
        Metric("partial_convs", "count", True, "conv layers with a frozen part (split, or whole when fraction = 0)",
               role=DESCRIPTION),
        *TRAIN_METRICS[1:],
    ]

    def check_plan(self, dataset_options: dict[str, Any]) -> list[tuple[str, str]]:
        cfg, problems = self.config, []
        if cfg["fraction"] == 0 and cfg["count"] is None and cfg["rest"] == "zero":
            problems.append(("rest", "fraction = 0 with rest = \"zero\" zeroes every conv filter; use rest = "
                                     "\"random\" (the frozen random network) or a fraction above 0"))
        if cfg["fraction"] == 0 and cfg["count"] is None and not (cfg["bn_learnable"] or cfg["classifier_learnable"]):
            problems.append(("fraction", "fraction = 0 with BatchNorm and the head frozen leaves nothing to train"))
        return problems + super().check_plan(dataset_options)

    def setup(self, model: Classifier, ctx: EvalContext) -> dict[str, Any]:
        from torch import nn

        from rcx.nn.partial import partialize

        cfg = self.config
        self.init(model, ctx)
        if cfg["fraction"] == 0 and cfg["count"] is None:  # no conv filter learns: freeze them whole
            for m in model.features.modules():
                if isinstance(m, nn.Conv2d):
                    m.requires_grad_(False)
            replaced = [n for n, m in model.features.named_modules() if isinstance(m, nn.Conv2d)]
        else:
            try:
                replaced = partialize(model.features, fraction=cfg["fraction"], count=cfg["count"], dim=cfg["dim"],
                                      rest=cfg["rest"])
            except ValueError as exc:
                raise InvalidArchitecture(f"partial_filters: {exc}") from None
        for m in model.features.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                for p in m.parameters(recurse=False):
                    p.requires_grad_(cfg["bn_learnable"])
        model.head.requires_grad_(cfg["classifier_learnable"])
        learned, frozen = param_counts(model)
        return {"learned_params": learned, "learned_fraction": learned / max(1, learned + frozen),
                "partial_convs": len(replaced)}
