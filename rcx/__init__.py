"""rcx: score convolutional architectures with random weights before training them."""

__version__ = "0.1.0"
