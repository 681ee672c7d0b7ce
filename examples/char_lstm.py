"""A character-level LSTM language model, trained compiled on text that ships with Python.

Run: python examples/char_lstm.py [--steps N]

The text is "The Zen of Python" (the ``this`` module), so nothing is downloaded. The training
step (embedding, LSTM unrolled over the sequence, cross-entropy, backward, Adam) is compiled into
one graph; sampling afterwards runs eagerly, one character at a time.
"""
from __future__ import annotations

import argparse
import codecs
import contextlib
import io
import time

import numpy as np
from _common import Progress

import graphc
import graphc.nn.functional as F
from graphc import nn, optim


def zen_of_python() -> str:
    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return codecs.decode(this.s, "rot13")


class CharModel(nn.Module):
    def __init__(self, vocab: int, embed: int = 32, hidden: int = 128):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, tokens, state=None):
        out, state = self.lstm(self.embed(tokens), state)
        return self.head(out), state


def sample(model: CharModel, chars: list, prompt: str, length: int) -> str:
    index = {c: i for i, c in enumerate(chars)}
    tokens = graphc.tensor([[index[c] for c in prompt]])
    text, state = prompt, None
    with graphc.no_grad():
        for _ in range(length):
            logits, state = model(tokens, state)
            next_id = int(logits[0, -1].argmax().item())
            text += chars[next_id]
            tokens = graphc.tensor([[next_id]])
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seq", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    text = zen_of_python()
    chars = sorted(set(text))
    data = np.array([chars.index(c) for c in text], dtype=np.int64)
    graphc.manual_seed(0)
    model = CharModel(len(chars))
    opt = optim.Adam(model.parameters(), lr=1e-2)

    @graphc.compile
    def train_step(x, y):
        opt.zero_grad()
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(0)
    start = time.perf_counter()
    with Progress(args.steps, "train") as bar:
        for _ in range(args.steps):
            offsets = rng.integers(0, len(data) - args.seq - 1, size=args.batch)
            window = np.stack([data[o:o + args.seq + 1] for o in offsets])
            loss = train_step(graphc.from_numpy(window[:, :-1]), graphc.from_numpy(window[:, 1:]))
            bar.update(loss=loss.item())
    elapsed = time.perf_counter() - start
    print(f"{args.steps} steps in {elapsed:.1f} s ({elapsed / args.steps * 1e3:.0f} ms/step), "
          f"{len(train_step.entries)} trace(s); final loss {loss.item():.3f} "
          f"(uniform guess: {np.log(len(chars)):.3f})")
    print("sample:", repr(sample(model, chars, "Beautiful is", 120)))


if __name__ == "__main__":
    main()
