"""``lc_frozen``: train with spatial filters frozen at random init, through LC-Blocks (seed 003).

Every spatial conv (kernel > 1) that is not already an LC-Block becomes one with expansion
``expansion`` (``rcx.nn.lc``); ``expansion = 0`` inserts no blocks and only freezes, as in the
paper's section 3 (Fig. 1). ``resnet_lc`` architectures carry their own E (``x0``: no blocks)
and are never given more.
``op`` is the block's intermediate op (``none``, the paper's default; ``relu``, ``bn``,
``bn_relu``: the Appendix C ablation). ``mode = "frozen"`` freezes every spatial filter
(requires_grad off: no weight gradient, never seen by the optimiser); ``learnable`` trains
them. 1x1 convs, BatchNorm and the classifier always learn.

Training defaults are the paper's Appendix A: SGD Nesterov momentum 0.9, lr 0.01 with cosine
annealing (to 0), weight decay 0.01, batch 256, label smoothing 0.1, 75 epochs, pad-4 crop +
flip, normalisation. ``epochs`` is the option to lower for proxy use.

LC-Blocks with op ``none`` compute folded by default (``fold``): one convolution with the
combined filters, formed from the current weights at every step (``rcx.nn.lc``), the same
function and gradients as the two convolutions up to float rounding, at about the plain
network's cost for any E instead of E times it (BENCHMARKS.md: LC-Blocks folded).

What it reproduces (seed 003, Gavrikov & Keuper): Figure 4 (ResNet-LC-20-16xE on CIFAR-10,
frozen vs learnable against E; E = 0 learnable is the trained baseline) and Figure 8 (the gap
against kernel size). At this CPU's scale (5,000 images, 10 epochs): examples/seed003_small.toml
and examples/seed003_small_k7.toml; at the paper's (50,000 images, 75 epochs, 4 seeds):
examples/seed003_small_gpu.toml and examples/seed003_small_k7_gpu.toml. docs/training.md says
what each shows; SCIENCE.md holds the results.

``fve_first``/``fve_last``: filter variance entropy (not normalised, as the paper's
Appendix D) of the first and last layer's combined filters (an LC-Block's 1x1 weights times its
spatial filters; a plain spatial conv's own filters) after training. With ``op`` other than
``none`` the combined filters ignore the op.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rcx.api.evaluator import EvalContext
from rcx.api.options import DESCRIPTION, Metric, Option
from rcx.evaluators.training import TRAIN_METRICS, TrainingEvaluator, param_counts, train_options
from rcx.nn.choices import LC_OPS

if TYPE_CHECKING:
    from rcx.nn.train import Classifier, TrainOutcome


class LCFrozen(TrainingEvaluator):
    name = "lc_frozen"
    version = "2"  # 2: op-none LC-Blocks compute folded by default (option fold)
    help = "Train with random frozen (or learnable) spatial filters combined by LC-Blocks (seed 003)."
    headline = ("val_acc", "learnable_params", "seconds")
    options = [
        Option("mode", str, "frozen", "frozen: spatial filters stay at random init; learnable: they train",
               choices=("frozen", "learnable")),
        Option("expansion", int, 1, "LC expansion E for spatial convs not already in LC-Blocks (0: no blocks, "
               "freeze only)", min=0, max=1024),
        Option("op", str, "none", "op between spatial and 1x1 conv (Appendix C ablation)", choices=LC_OPS),
        Option("fold", bool, True, "compute each op-none LC-Block as one conv with its combined filters, formed "
               "every step from the current weights: the same function and gradients up to float rounding, at the "
               "plain conv's cost instead of E times it (false: the spatial conv with c_out*E filters, then the 1x1)"),
        Option("fve", bool, True, "report the filter variance entropy of the first and last combined filters"),
        *train_options(epochs=75, batch_size=256, lr=0.01, min_lr=0.0, momentum=0.9, nesterov=True,
                       weight_decay=0.01, label_smoothing=0.1),
    ]
    metrics = [
        TRAIN_METRICS[0],
        Metric("learnable_params", "count", False, "parameters that train", role=DESCRIPTION),
        Metric("frozen_params", "count", True, "parameters frozen at random init", role=DESCRIPTION),
        Metric("lc_blocks", "count", True, "LC-Blocks in the model", role=DESCRIPTION),
        Metric("fve_first", "", True, "filter variance entropy of the first layer's combined filters (log10)",
               role=DESCRIPTION),
        Metric("fve_last", "", True, "filter variance entropy of the last layer's combined filters (log10)",
               role=DESCRIPTION),
        *TRAIN_METRICS[1:],
    ]

    def setup(self, model: Classifier, ctx: EvalContext) -> dict[str, Any]:
        from rcx.nn.lc import freeze_spatial, lc_transform, set_folded

        cfg = self.config
        blocks = lc_transform(model, cfg["expansion"], cfg["op"])
        set_folded(model, cfg["fold"])
        self.init(model, ctx)
        if cfg["mode"] == "frozen":
            freeze_spatial(model)
        learnable, frozen = param_counts(model)
        return {"learnable_params": learnable, "frozen_params": frozen, "lc_blocks": blocks}

    def after_training(self, model: Classifier, outcome: TrainOutcome) -> dict[str, Any]:
        from rcx.nn.lc import filter_variance_entropy, spatial_filters

        filters = spatial_filters(model) if self.config["fve"] else []
        if not filters:
            return {}
        return {"fve_first": filter_variance_entropy(filters[0]), "fve_last": filter_variance_entropy(filters[-1])}
