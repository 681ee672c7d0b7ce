"""Data-parallel training of the digits CNN over MPI: one process per replica.

Run: mpiexec -n 2 python examples/ddp_digits.py [--model cnn|mlp] [--epochs N] [--compiled]
                                                 [--compare]
 or: graphc launch -n 2 examples/ddp_digits.py
(needs pip install -e '.[distributed,examples]'; without mpiexec it runs as one process)

Every rank builds the model, and DistributedDataParallel copies rank 0's weights to the others;
a DistributedSampler gives each rank its share of every epoch, so with N ranks each trains on
batches of 64/N and, after each backward, the gradients are averaged over the ranks: each step
is the step one process would take on the global batch of 64. Only rank 0 prints and saves the
checkpoint; afterwards every rank loads it. ``--compiled`` compiles the whole training step
(forward, backward, the gradient all-reduces and the Adam update: one graph, traced once).
``--compare`` also trains one process on the same global batches (on rank 0) and prints how
far the parameters ended from it.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
from _common import load_digits
from digits_classifier import accuracy, make_model

import graphc
import graphc.distributed as dist
import graphc.nn.functional as F
from graphc import optim
from graphc.data import DataLoader, TensorDataset
from graphc.distributed import DistributedSampler
from graphc.nn.parallel import DistributedDataParallel

GLOBAL_BATCH = 64


def global_batches(train_set, world: int, epoch: int):
    """The global batches of an epoch, as the ranks' samplers cut it (for --compare)."""
    loaders = []
    for rank in range(world):
        sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, seed=0,
                                     drop_last=True)
        sampler.set_epoch(epoch)
        loaders.append(DataLoader(train_set, batch_size=GLOBAL_BATCH // world, sampler=sampler,
                                  drop_last=True))
    for parts in zip(*loaders):
        yield graphc.cat([x for x, _ in parts]), graphc.cat([y for _, y in parts])


def train_one_process(kind: str, epochs: int, train_set, world: int):
    graphc.manual_seed(0)
    model = make_model(kind)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(epochs):
        for x, y in global_batches(train_set, world, epoch):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "cnn"], default="cnn")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--compiled", action="store_true",
                        help="compile the whole training step, all-reduces included")
    parser.add_argument("--compare", action="store_true",
                        help="also train one process on the same global batches")
    parser.add_argument("--checkpoint", default=os.path.join(tempfile.gettempdir(),
                                                             "ddp_digits.gcpt"))
    args = parser.parse_args()

    dist.init_process_group(backend="mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    if GLOBAL_BATCH % world:
        raise SystemExit(f"the global batch of {GLOBAL_BATCH} must divide among {world} ranks")
    (train_x, train_y), (test_x, test_y) = load_digits()
    train_set = TensorDataset(graphc.from_numpy(train_x), graphc.from_numpy(train_y))
    sampler = DistributedSampler(train_set, seed=0, drop_last=True)
    loader = DataLoader(train_set, batch_size=GLOBAL_BATCH // world, sampler=sampler,
                        drop_last=True)

    graphc.manual_seed(0)
    model = DistributedDataParallel(make_model(args.model))
    opt = optim.Adam(model.parameters(), lr=3e-3)

    def train_step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()  # ends with the gradients averaged over the ranks
        opt.step()
        return loss

    step = graphc.compile(train_step) if args.compiled else train_step
    if rank == 0:
        print(f"{world} rank(s), {GLOBAL_BATCH // world} samples each per step, "
              f"{len(loader)} steps per epoch")
    start = time.perf_counter()
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)  # a new order every epoch, the same on every rank
        total = graphc.zeros(2)
        for x, y in loader:
            total += graphc.tensor([step(x, y).item(), 1.0])
        dist.all_reduce(total)  # the mean loss over every rank's steps
        if rank == 0:
            print(f"epoch {epoch + 1}: loss {total[0].item() / total[1].item():.4f}, "
                  f"test accuracy {accuracy(model.module, test_x, test_y):.2%}", flush=True)
    elapsed = time.perf_counter() - start

    if rank == 0:
        graphc.save(model.module.state_dict(), args.checkpoint)
        traces = f", {len(step.entries)} trace(s)" if args.compiled else ""
        print(f"trained in {elapsed:.1f} s{traces}; saved {args.checkpoint}")
    dist.barrier()  # the checkpoint is written before anyone reads it
    restored = make_model(args.model)
    restored.load_state_dict(graphc.load(args.checkpoint))
    weights = graphc.cat([p.reshape(-1) for p in restored.parameters()])
    everyone = [graphc.zeros_like(weights) for _ in range(world)]
    dist.all_gather(everyone, weights)
    same = all(np.array_equal(w.numpy(), weights.numpy()) for w in everyone)
    if rank == 0:
        print(f"checkpoint loaded on every rank, the same weights on all: {same}")
    if args.compare and rank == 0:
        reference = train_one_process(args.model, args.epochs, train_set, world)
        drift = max(float(np.abs(a.numpy() - b.numpy()).max())
                    for a, b in zip(model.module.parameters(), reference.parameters()))
        print(f"one process on the same global batches: test accuracy "
              f"{accuracy(reference, test_x, test_y):.2%}; max |parameter difference| "
              f"{drift:.2e}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
