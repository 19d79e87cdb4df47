"""NATS-Bench's size search space: 90-epoch accuracy of all 32,768 networks (``nats_sss``).

The file ``data/nats_sss.csv.gz`` (header ``index,arch,cifar10_test,cifar100_test,
imagenet16_test,cifar10_valid,cifar100_valid,imagenet16_valid,params_cifar10``, rows in the
benchmark's index order, ``arch`` the official channel string that rcx's ``nats_sss`` space uses
as its id) is NATS-Bench data (MIT licence, Xuanyi Dong); see ``data/NOTICE.md`` for its
provenance and checksum. ``params_cifar10`` (the CIFAR-10 network's parameter count, classifier
included) is not a subset: rcx's own ``params`` column is the same count without the
classifier (:func:`published_params`).
"""

from __future__ import annotations

from rcx.api.options import Metric
from rcx.truth.base import TruthTable, Values, columns_by_id, read_packaged_csv

FILE = "nats_sss.csv.gz"
SHA256 = "b78b84b3d5c734ac68e8d8aa34b7c2d6c37e4d3252e592b15dd06d8f6a2ef5e4"
SIZE = 32_768

#: subset -> column of the file
COLUMNS = {"cifar10": "cifar10_test", "cifar100": "cifar100_test", "imagenet16": "imagenet16_test",
           "cifar10_valid": "cifar10_valid", "cifar100_valid": "cifar100_valid",
           "imagenet16_valid": "imagenet16_valid"}


class NATSSizeTruth(TruthTable):
    name = "nats_sss"
    version = "1"
    space = "nats_sss"
    help = "NATS-Bench size space: 90-epoch test and validation accuracy (%) of all 32,768 networks"
    subsets = (
        Metric("cifar10", "%", True, "CIFAR-10 test accuracy (full test set, trained on train+valid), seed 777"),
        Metric("cifar100", "%", True, "CIFAR-100 test accuracy (the benchmark's x-test half), seed 777"),
        Metric("imagenet16", "%", True, "ImageNet16-120 test accuracy (the benchmark's x-test half), seed 777"),
        Metric("cifar10_valid", "%", True, "CIFAR-10 validation accuracy of the same runs"),
        Metric("cifar100_valid", "%", True, "CIFAR-100 validation accuracy (x-valid half) of the same runs"),
        Metric("imagenet16_valid", "%", True, "ImageNet16-120 validation accuracy (x-valid half) of the same runs"),
    )
    attribution = (
        "NATS-Bench size search space (MIT licence, Xuanyi Dong): Dong, Liu, Musial & Gabrys, NATS-Bench, "
        "TPAMI 2021. Accuracy after the 90-epoch schedule, seed 777, from the official API "
        "(get_more_info(i, dataset, hp='90'))."
    )

    def load(self) -> Values:
        """Parse the packaged file: ``{channel string: {subset: %}}`` for the six subsets."""
        return columns_by_id(FILE, COLUMNS)


def published_params() -> dict[str, int]:
    """The benchmark's CIFAR-10 parameter count per channel string (classifier included)."""
    header, rows = read_packaged_csv(FILE)
    k, p = header.index("arch"), header.index("params_cifar10")
    return {row[k]: int(row[p]) for row in rows}
