"""The version of cfke-auth, in one place: the package metadata, ``cfke_auth.__version__`` and the User-Agent."""

__version__ = "0.2.0"
