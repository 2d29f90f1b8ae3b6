"""The one model shape every architecture is put into: normalise → body → GAP → linear."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from .normalize import Normalize


class ImageClassifier(nn.Module):
    """A CNN that maps pixels in [0, 1] to logits and exposes the layers CAM and dissection need.

    ``forward``: ``x [B, C, H, W]`` → ``Normalize`` → ``body`` → feature map ``f [B, K, h, w]`` →
    global average pooling ``[B, K]`` → ``dropout`` → ``classifier`` (``nn.Linear(K, num_classes)``)
    → logits ``[B, num_classes]``.

    ``feature_layer`` is the module inside ``body`` whose output is ``f`` (the last conv feature
    map, what the pooling sees), so for every class c the class activation map
    ``M_c = Σ_k w_ck f_k`` satisfies ``mean_{h,w} M_c = logit_c - b_c`` (Zhou et al., 2016).
    """

    def __init__(
        self,
        body: nn.Module,
        feature_layer: nn.Module,
        classifier: nn.Linear,
        mean: Sequence[float],
        std: Sequence[float],
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not any(m is feature_layer for m in body.modules()):
            raise ValueError("feature_layer must be a module inside body")
        self.normalize = Normalize(mean, std)
        self.body = body
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = classifier
        # Stored outside the module tree (a plain attribute would register it twice).
        self._feature_layer_name = next(n for n, m in body.named_modules() if m is feature_layer)

    @property
    def feature_layer(self) -> nn.Module:
        """The module whose output ``[B, K, h, w]`` is pooled into the classifier's input."""
        return self.body.get_submodule(self._feature_layer_name)

    @property
    def in_channels(self) -> int:
        return self.normalize.mean.shape[1]

    @property
    def num_classes(self) -> int:
        return self.classifier.out_features

    def forward(self, x: Tensor) -> Tensor:
        features = self.body(self.normalize(x))
        return self.classifier(self.dropout(self.pool(features).flatten(1)))
