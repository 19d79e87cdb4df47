"""An evaluator plugin: the mean absolute activation of a candidate on a fixed batch."""

from rcx.api import (
    INIT_SCHEMES,
    EvalContext,
    EvalResult,
    Evaluator,
    FixedBatch,
    Metric,
    Option,
    RunContext,
    generator,
    hookimpl,
    init_weights,
)


class MeanActivation(Evaluator):
    name = "mean_activation"
    version = "1"
    help = "mean |activation| of the feature extractor on one fixed batch (a toy proxy)"
    options = [
        Option("batch_size", int, 16, "size of the one fixed scoring batch: changes the score", min=1),
        Option("init", str, "kaiming_normal", "weight init scheme", choices=INIT_SCHEMES),
    ]
    metrics = [Metric("mean_abs", "activation", higher_is_better=True, help="mean |feature|")]

    def check_plan(self, dataset_options):
        return self.check_batch_fits(dataset_options)  # batch_size <= dataset.train_size

    def prepare(self, ctx: RunContext) -> None:
        self.batch = FixedBatch.draw(ctx, self.config["batch_size"], stream=self.name)  # once per run

    def evaluate(self, ctx: EvalContext) -> EvalResult:
        import torch  # here, not at the top: listing plugins stays quick

        net = self.batch.build(ctx.arch, head=False)
        init_weights(net, self.config["init"], generator(ctx.seed, "init"))
        with torch.no_grad():
            features = net(self.batch.x)  # (B, C', H', W')
        return EvalResult("done", {"mean_abs": features.abs().mean().item()})


@hookimpl
def rcx_register_evaluators(register):
    register(MeanActivation)
