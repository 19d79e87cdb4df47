"""``partial_filters``: learn only a slice of every conv layer (seed 004, Rosenfeld & Tsotsos).

Per conv layer the first ``fraction`` of the output filters (rounded half up, at least 1) --
or a fixed ``count`` of them, when set -- learn; the rest stays at its random init
(``rest = "random"``) or is zeroed (``rest = "zero"``). ``dim = "in"`` slices input channels
instead (the paper's alternative; biases then stay at init). The frozen part is a buffer used
by a second convolution (``rcx.nn.partial``): it costs no weight gradient and no optimiser,
weight decay or momentum ever moves it. ``bn_learnable`` and ``classifier_learnable`` say
whether BatchNorm's affine parameters and the linear head train.

Training defaults are the ``trained`` evaluator's (seed 000's settings with lr 0.02 -> 0.0002);
the paper used each architecture's reference training for a few epochs and gives no single
recipe. ``learned_fraction`` = learned parameters / all parameters (BN and head included).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rcx.api.evaluator import EvalContext, InvalidArchitecture
from rcx.api.options import DESCRIPTION, Metric, Option
from rcx.evaluators.training import TRAIN_METRICS, TrainingEvaluator, param_counts, train_options
from rcx.nn.choices import PARTIAL_DIMS, PARTIAL_RESTS

if TYPE_CHECKING:
    from torch import nn

    from rcx.nn.train import Classifier
    from rcx.nn.partial import partialize


class PartialFilters(TrainingEvaluator):
    name = "partial_filters"
    version = "1"
    help = "Train only the first fraction (or count) of each conv's filters; the rest stays random or zero (seed 004)."
    headline = ("val_acc", "learned_fraction", "seconds")
    options = [
        Option("fraction", float, 0.1, "fraction of each conv's filters that learn (0 < f <= 1)", min=0.0, max=1.0,
               gt_min=True),
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
        Metric("partial_convs", "count", True, "conv layers split into a learned and a frozen part", role=DESCRIPTION),
        *TRAIN_METRICS[1:],
    ]

    def setup(self, model: Classifier, ctx: EvalContext) -> dict[str, Any]:
        from torch import nn

        from rcx.nn.partial import partialize

        cfg = self.config
        self.init(model, ctx)
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
