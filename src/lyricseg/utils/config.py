"""Where the Hydra config shipped with lyricseg lives."""

from pathlib import Path

#: The Hydra config shipped in the package (a folder: pip installs wheels unpacked): the
#: repository's top-level ``conf/``, linked as ``src/lyricseg/conf`` and copied into the wheel.
PACKAGED_CONFIG = Path(__file__).parent.parent / "conf"
