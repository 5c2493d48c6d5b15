"""The version of loopml (also ``loopml.__version__``), importable from any layer."""

__version__ = "0.1.0"
