"""rcx-naswot: the NASWOT score (Mellor et al., "Neural Architecture Search without Training",
ICML 2021) as a third-party rcx evaluator."""

__version__ = "0.1.0"
