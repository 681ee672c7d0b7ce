"""A synthetic citation graph in the Cora data set's file format (``cora.content``: paper id,
binary word features, class label; ``cora.cites``: cited id, citing id), written offline where
PyTorch's GCN example downloads Cora. Papers of one class share a vocabulary and cite each other
more often, so a GCN learns the classes as it does on Cora."""
from __future__ import annotations

import os

import numpy as np

CLASSES = ["Case_Based", "Genetic_Algorithms", "Neural_Networks", "Probabilistic_Methods",
           "Reinforcement_Learning", "Rule_Learning", "Theory"]


def write_synthetic_cora(path: str = "./cora", papers: int = 2000, words: int = 300,
                         citations: int = 5000, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), size=papers)
    topic_words = rng.random((len(CLASSES), words)) < 0.08
    features = (rng.random((papers, words)) < 0.01) | (
        topic_words[labels] & (rng.random((papers, words)) < 0.3))
    ids = rng.choice(np.arange(1, 10 * papers), size=papers, replace=False)
    citing = rng.integers(0, papers, size=citations)
    same_class = rng.random(citations) < 0.8
    cited = np.where(same_class, [rng.choice(np.flatnonzero(labels == labels[c])) for c in citing],
                     rng.integers(0, papers, size=citations))
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "cora.content"), "w") as f:
        for i in range(papers):
            bits = "\t".join("1" if b else "0" for b in features[i])
            f.write(f"{ids[i]}\t{bits}\t{CLASSES[labels[i]]}\n")
    with open(os.path.join(path, "cora.cites"), "w") as f:
        for a, b in zip(cited, citing):
            if a != b:
                f.write(f"{ids[a]}\t{ids[b]}\n")
