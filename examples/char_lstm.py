"""A character-level LSTM language model, trained compiled on text that ships with Python.

Run: python examples/char_lstm.py [--steps N] [--plot PATH | --no-plot]

The text is "The Zen of Python" (the ``this`` module), so nothing is downloaded. The training
step (embedding, LSTM unrolled over the sequence, cross-entropy, backward, Adam) is compiled into
one graph; sampling afterwards runs eagerly, one character at a time. The text is shorter than
one batch of random windows, so progress (on stderr) counts "epochs" of ``--steps-per-epoch``
steps; the loss curve is saved to ``char_lstm_curves.png`` (``--plot``).
"""
from __future__ import annotations

import argparse
import codecs
import contextlib
import io
import time

import numpy as np
from _common import TrainingProgress, add_plot_options, save_curves

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
    parser.add_argument("--steps-per-epoch", type=int, default=50,
                        help="steps between progress reports (default: %(default)s)")
    add_plot_options(parser, "char_lstm")
    args = parser.parse_args()
    for option in ("steps", "seq", "batch", "steps_per_epoch"):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1, "
                         f"got {getattr(args, option)}")

    text = zen_of_python()
    chars = sorted(set(text))
    data = np.array([chars.index(c) for c in text], dtype=np.int64)
    if args.seq > len(data) - 2:
        parser.error(f"--seq must be at most {len(data) - 2} (the text's length less 2), "
                     f"got {args.seq}")
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
    epoch_sizes = [min(args.steps_per_epoch, args.steps - done)
                   for done in range(0, args.steps, args.steps_per_epoch)]
    progress = TrainingProgress("train", epoch_sizes)
    losses: list[float] = []
    start = time.perf_counter()
    for epoch in progress.epochs():
        for _ in range(epoch_sizes[epoch - 1]):
            offsets = rng.integers(0, len(data) - args.seq - 1, size=args.batch)
            window = np.stack([data[o:o + args.seq + 1] for o in offsets])
            loss = train_step(graphc.from_numpy(window[:, :-1]), graphc.from_numpy(window[:, 1:]))
            losses.append(loss.item())
            progress.step(loss=losses[-1])
        progress.report(loss=float(np.mean(losses[-epoch_sizes[epoch - 1]:])))
    elapsed = time.perf_counter() - start
    uniform = float(np.log(len(chars)))
    print(f"{args.steps} steps in {elapsed:.1f} s ({elapsed / args.steps * 1e3:.0f} ms/step), "
          f"{len(train_step.entries)} trace(s); final loss {losses[-1]:.3f} "
          f"(uniform guess: {uniform:.3f})")
    print("sample:", repr(sample(model, chars, "Beautiful is", 120)))
    steps = np.arange(1, args.steps + 1)
    save_curves(args.plot, "char LSTM on the Zen of Python, compiled", [
        ("training loss (cross-entropy)", {"loss": (steps, losses), "uniform guess": uniform})],
        xlabel="step")


if __name__ == "__main__":
    main()
