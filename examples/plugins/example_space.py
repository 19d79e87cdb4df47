"""A search-space plugin: plain conv stacks, one width per layer."""

import itertools

from rcx.api import Arch, ArchInfo, LayerInfo, Option, SearchSpace, hookimpl


class WidthStack(SearchSpace):
    name = "width_stack"
    version = "1"
    help = "3x3 conv + ReLU layers, each with its own width"
    options = [
        Option("layers", int, 2, "conv layers", min=1, max=6),
        Option("widths", list, [4, 8, 16], "the widths each layer chooses from", min=1, item_type=int),
    ]

    def __init__(self, **options):
        super().__init__(**options)  # self.config: every option, defaults filled in
        if len(set(self.config["widths"])) != len(self.config["widths"]):
            raise ValueError("widths must not repeat")  # a plan error under [space]
        self.all = list(itertools.product(self.config["widths"], repeat=self.config["layers"]))

    def __len__(self):
        return len(self.all)

    def arch_at(self, index):
        widths = self.all[index]
        return Arch(self.name, "w" + "-".join(map(str, widths)), {f"w{i + 1}": w for i, w in enumerate(widths)})

    def from_id(self, arch_id):
        try:
            return self.arch_at(self.all.index(tuple(int(w) for w in arch_id.removeprefix("w").split("-"))))
        except ValueError:
            raise ValueError(f"{arch_id!r} is not a width_stack id such as 'w4-8'") from None

    def describe(self, arch, in_shape):
        c, h, w = in_shape
        layers, params, flops = [], 0, 0
        for width in arch.params.values():
            conv = LayerInfo("conv", (width, h, w), c, width, kernel=3, stride=1, dilation=1, padding=1,
                             params=9 * c * width + width, flops=9 * c * width * h * w)
            layers += [conv, LayerInfo("relu", (width, h, w))]
            params, flops, c = params + conv.params, flops + conv.flops, width
        features = c * h * w
        ratio = features / (in_shape[0] * h * w)
        if ratio > 8:  # invalid candidates are recorded, never evaluated; valid_only skips them
            return ArchInfo(False, f"{features} output elements is more than 8x the input", in_shape)
        return ArchInfo(True, "", in_shape, (c, h, w), params, flops, features, ratio, tuple(layers))

    def grid(self):  # optional: one choice per parameter makes the space searchable (kind = "optuna")
        return {f"w{i + 1}": self.config["widths"] for i in range(self.config["layers"])}

    def from_grid(self, values):
        return self.from_id("w" + "-".join(str(values[f"w{i + 1}"]) for i in range(self.config["layers"])))

    def build(self, arch, in_shape):
        from torch import nn  # here, not at the top: listing plugins stays quick

        modules, c = [], in_shape[0]
        for width in arch.params.values():
            modules += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU()]
            c = width
        return nn.Sequential(*modules)


@hookimpl
def rcx_register_spaces(register):
    register(WidthStack)
