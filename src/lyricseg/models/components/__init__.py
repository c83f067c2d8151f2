"""Building blocks of the tagger: encoder, attention, decoders."""

from lyricseg.models.components.attention import LineSelfAttention, sinusoidal_positions
from lyricseg.models.components.decoding import (
    ArgmaxDecoder,
    Decoder,
    JointDecoder,
    ViterbiDecoder,
)
from lyricseg.models.components.encoder import TaggerNet
from lyricseg.models.components.ssm_attention import SSMAttention
from lyricseg.models.components.ssm_encoder import SSMEncoder

__all__ = [
    "ArgmaxDecoder",
    "Decoder",
    "JointDecoder",
    "LineSelfAttention",
    "SSMAttention",
    "SSMEncoder",
    "TaggerNet",
    "ViterbiDecoder",
    "sinusoidal_positions",
]
