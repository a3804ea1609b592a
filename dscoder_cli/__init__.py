"""dscoder: the DeepSeek-Coder recipe as one command-line toolchain."""

from stages.core import __version__  # noqa: F401  (one version, recorded in every manifest)
