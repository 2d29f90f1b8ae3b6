"""Network level (``docs/method.md`` §3): Network Dissection, unit sensitivity to attacks, neuron masking.

``dissect(model, layer, loader, quantile=0.005, iou_threshold=0.04) -> DissectionResult``; the
loader yields ``(images, concept_masks)`` (``[B, C, h, w]`` bool) or concept probe dicts
(``concepts``): ``SyntheticConcepts`` (no download), ``DataConcepts`` (objects from the data's own
images, grey textures) or ``BrodenDataset`` (the Broden layout); ``label_stability`` says which
units keep their label when the probe images are resampled or jitter.
"""

from .broden import BrodenDataset, write_broden
from .concepts import CONCEPT_PROBES, SyntheticConcepts, concept_probe_set, concept_source, describe_concepts
from .data_concepts import DataConcepts
from .iou import dissect
from .masking import MASK_FRACTIONS, mask_units, masking_curve
from .quantiles import ExactQuantile, SampledQuantile
from .result import DissectionResult
from .sensitivity import add_sensitivity, attack_sensitivity, compare_sensitivity, dissection_summary, spearman
from .settings import DEFAULT_DISSECTION, DissectionSettings
from .stability import LabelStability, NoisyImages, label_stability

__all__ = [
    "BrodenDataset",
    "CONCEPT_PROBES",
    "DataConcepts",
    "LabelStability",
    "NoisyImages",
    "DEFAULT_DISSECTION",
    "DissectionResult",
    "DissectionSettings",
    "ExactQuantile",
    "MASK_FRACTIONS",
    "SampledQuantile",
    "SyntheticConcepts",
    "concept_probe_set",
    "concept_source",
    "describe_concepts",
    "add_sensitivity",
    "attack_sensitivity",
    "compare_sensitivity",
    "dissect",
    "dissection_summary",
    "label_stability",
    "mask_units",
    "masking_curve",
    "spearman",
    "write_broden",
]
