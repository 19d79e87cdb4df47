"""rcx-zerocost: the zero-cost NAS proxies (synflow, snip, grad_norm, grasp, fisher, jacov, zen,
zico) as third-party rcx evaluators, built on ``rcx.api`` only."""

__version__ = "0.1.0"
