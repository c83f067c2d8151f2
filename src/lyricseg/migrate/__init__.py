"""Convert earlier single-file training configs into lyricseg experiment files.

``python -m lyricseg.migrate OLD.yaml [--out conf/experiment/NAME.yaml] [--check]``.
"""

from lyricseg.migrate.check import compose_experiment
from lyricseg.migrate.legacy_config import Migration, convert, convert_file

__all__ = ["Migration", "compose_experiment", "convert", "convert_file"]
