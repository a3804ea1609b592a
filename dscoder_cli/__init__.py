"""dscoder: the DeepSeek-Coder recipe as one command-line toolchain."""

__version__ = "0.1.0"
