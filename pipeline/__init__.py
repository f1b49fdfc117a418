"""yanbao (研报): a research-report pipeline for Chinese reports."""

__version__ = "0.1.0"
