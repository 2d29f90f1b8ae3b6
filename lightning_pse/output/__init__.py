"""Output, below both the callbacks and ``analyze.py``: pictures as tensors (``images``), figures as
PNG bytes (``figures``), W&B media from callbacks (``media``), the self-contained HTML report
(``html``) and number formatting (``text``). Nothing here computes a number of the method."""
