"""A dataset plugin: two classes of random images, bright and dark."""

from rcx.api import DatasetError, DatasetProvider, ImageDataset, Option, generator, hookimpl


class BrightDark(DatasetProvider):
    name = "bright_dark"
    version = "1"
    help = "random 8x8 RGB images: class 1 is brighter than class 0"
    options = [Option("n", int, 64, "images per split", min=2)]

    def load(self, options, cache_dir):
        import torch  # here, not at the top: listing plugins stays quick

        if options["n"] > 100_000:
            raise DatasetError("bright_dark: n above 100000 does not fit in memory here")
        g = generator(0, self.name)  # the same images in every run

        def split(n):
            y = torch.arange(n) % 2  # (n,) labels 0/1
            x = torch.randint(0, 128, (n, 3, 8, 8), generator=g) + 127 * y[:, None, None, None]
            return x.to(torch.uint8), y.long()  # (n, 3, 8, 8) uint8, (n,) int64

        (train_x, train_y), (test_x, test_y) = split(options["n"]), split(options["n"])
        return ImageDataset(self.name, train_x, train_y, test_x, test_y, ["dark", "bright"],
                            mean=(0.5, 0.5, 0.5), std=(0.29, 0.29, 0.29))


@hookimpl
def rcx_register_datasets(register):
    register(BrightDark)
