"""NAS-Bench-201's 200-epoch test accuracy for all 15,625 cells (``nb201``).

The file ``data/nb201_truth.csv.gz`` (header ``arch,cifar10_test,cifar100_test,imagenet16_test``,
rows in the benchmark's index order, ``arch`` the official cell string that rcx's ``nb201``
space uses as its id) is NATS-Bench / NAS-Bench-201 data (MIT licence, Xuanyi Dong); see
``data/NOTICE.md`` for its provenance and checksum.
"""

from __future__ import annotations

from rcx.api.options import Metric
from rcx.truth.base import TruthTable, Values, columns_by_id

FILE = "nb201_truth.csv.gz"
SHA256 = "bcb7fcaa0bfda9eb415dbc7d371f0ad281edc1b3f973ec3b00a9944fef6d617b"
SIZE = 15_625

#: subset -> column of the file
COLUMNS = {"cifar10": "cifar10_test", "cifar100": "cifar100_test", "imagenet16": "imagenet16_test"}


class NB201Truth(TruthTable):
    name = "nb201"
    version = "1"
    space = "nb201"
    help = "NAS-Bench-201: 200-epoch test accuracy (%) of all 15,625 cells on CIFAR-10, CIFAR-100, ImageNet16-120"
    subsets = (
        Metric("cifar10", "%", True, "CIFAR-10 test accuracy (full test set, trained on train+valid), mean of seeds"),
        Metric("cifar100", "%", True, "CIFAR-100 test accuracy (the benchmark's x-test half), mean of seeds"),
        Metric("imagenet16", "%", True, "ImageNet16-120 test accuracy (the benchmark's x-test half), mean of seeds"),
    )
    attribution = (
        "NAS-Bench-201 / NATS-Bench (MIT licence, Xuanyi Dong): Dong & Yang, NAS-Bench-201, ICLR 2020; "
        "Dong et al., NATS-Bench, TPAMI 2021. Last-epoch test accuracy of the 200-epoch schedule, averaged "
        "over the available training seeds (777/888/999)."
    )

    def load(self) -> Values:
        """Parse the packaged file: ``{arch string: {"cifar10": %, "cifar100": %, "imagenet16": %}}``."""
        return columns_by_id(FILE, COLUMNS)
