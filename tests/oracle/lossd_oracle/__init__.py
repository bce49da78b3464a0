"""The lossd oracle suite: random cases through a running lossd, compared
with PyTorch (or a transcription of the published formula)."""
