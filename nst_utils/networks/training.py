r"""One training loop for every network of the kit (style networks, decoders).

:func:`train` minimises a loss over the weights :math:`W` of a network with Adam (Kingma &
Ba 2015), one batch of photos per step:

.. math:: W_{t+1} = W_t - \text{Adam}\big(\nabla_W\, \ell(f_W, \text{batch}_t)\big),

where ``loss_fn(model, batch, step) -> (loss, numbers)`` decides what :math:`\ell` is
(:mod:`nst_utils.networks.fast_style`: the paper's loss of the painted batch).

* **Checkpoints**: the weights, Adam's moments, the step and the settings, in one
  safetensors file (nothing executable), written atomically every ``checkpoint_every``
  steps, at the end, and on Ctrl-C. ``resume=True`` continues from the checkpoint's step:
  the data stream is asked to start there too, so a resumed run takes the same steps as an
  uninterrupted one.
* **Learning rate**: constant, or decayed along a half cosine to zero at the last step
  (``schedule="cosine"``, :meth:`TrainSettings.lr_at`), so that a run ends on weights that
  have stopped moving; BENCHMARKS.md ("400 more steps, three ways") compares the two.
* **Ctrl-C** asks the loop to stop after the step in progress (a second Ctrl-C stops at
  once); the checkpoint is written and :class:`TrainingInterrupted` (a
  ``KeyboardInterrupt``) says where.
* **Many processes** (``torchrun --nproc_per_node N``, which sets ``WORLD_SIZE``): the
  process group starts (gloo on the CPU, nccl on CUDA), the model is wrapped in
  ``DistributedDataParallel``, which averages the gradients of all ranks before every step,
  so the weights stay identical everywhere; only rank 0 writes checkpoints and shows
  progress. Each rank must draw its own batches (:func:`nst_utils.networks.photos.crops` with
  ``rank`` and ``world`` from :func:`process`).

Speeds are measured in BENCHMARKS.md.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from tqdm.auto import tqdm

from ..assets.files import atomic_write
from ..errors import NSTError

LossFn = Callable[[nn.Module, torch.Tensor, int], tuple[torch.Tensor, dict[str, float]]]
Batches = Iterable[torch.Tensor] | Callable[[int], Iterable[torch.Tensor]]
#: Settings a resumed run must share with its checkpoint (the others may change).
RESUME_MUST_MATCH = ("size", "batch", "lr", "seed", "schedule", "started_from")
#: How the learning rate changes over a run (:meth:`TrainSettings.lr_at`).
SCHEDULES = ("constant", "cosine")
CHECKPOINT_KEY = "nst_checkpoint"


@dataclass(frozen=True)
class TrainSettings:
    """What decides a training run.

    ``size`` (crop side in pixels), ``batch`` (photos per step and process) and ``seed``
    decide the data and the first weights (read by the caller, e.g.
    :func:`nst_utils.networks.fast_style.train_style`); ``steps``, ``lr``, ``schedule``,
    ``checkpoint_every`` and ``log_every`` are read by :func:`train`. ``started_from`` names
    the trained model whose weights the caller started from (``nst train-style --from``;
    ``None``: new weights): kept in the checkpoint, so that a resumed run's record says
    where its weights began, and a resume from other weights is refused.
    """

    size: int = 256
    batch: int = 4
    steps: int = 2000
    lr: float = 1e-3
    seed: int = 0
    checkpoint_every: int = 100
    log_every: int = 10
    schedule: str = "constant"
    started_from: str | None = None

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            low = 0 if field.name == "seed" else 1
            if field.name == "started_from":
                if value is not None and not isinstance(value, str):
                    raise NSTError(f"started_from {value!r}: give a model's name or path")
            elif field.name == "schedule":
                if value not in SCHEDULES:
                    raise NSTError(f"learning-rate schedule {value!r}: choose "
                                   f"{' or '.join(SCHEDULES)}")  # fmt: skip
            elif field.name == "lr":
                if not (math.isfinite(value) and value > 0):
                    raise NSTError(f"learning rate {value}: give a number > 0, e.g. 1e-3")
            elif not isinstance(value, int) or value < low:
                raise NSTError(f"{field.name} {value!r}: give a whole number >= {low}")

    def lr_at(self, step: int) -> float:
        r"""Adam's learning rate :math:`\eta_t` for step ``step`` (:math:`t = 0 \dots T-1`,
        :math:`T` = ``steps``): :math:`\eta` when constant, else a half cosine from
        :math:`\eta` down to almost zero at the last step,

        .. math:: \eta_t = \frac{\eta}{2} \Big(1 + \cos \frac{\pi t}{T}\Big).
        """
        if self.schedule == "constant":
            return self.lr
        return 0.5 * self.lr * (1 + math.cos(math.pi * step / self.steps))

    def as_dict(self) -> dict:
        return asdict(self)


#: Every setting's default (what an older checkpoint, saved before a field existed, used).
_DEFAULTS = {field.name: field.default for field in fields(TrainSettings)}


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`train`: ``step`` steps are done and saved in ``checkpoint``."""

    def __init__(self, step: int, checkpoint: Path | None) -> None:
        super().__init__(step, checkpoint)
        self.step, self.checkpoint = step, checkpoint


def process() -> tuple[int, int, int]:
    """``(rank, world, local_rank)`` of this process, from torchrun's variables (else 0, 1, 0)."""
    env = os.environ
    return int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))


def device() -> torch.device:
    """This process's device: its own GPU under torchrun with CUDA, else the kit's default."""
    from ..config import default_device

    chosen = default_device()
    if chosen.type == "cuda" and process()[1] > 1:
        return torch.device("cuda", process()[2])
    return chosen


def train(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Batches,
    settings: TrainSettings = TrainSettings(),
    *,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    on_log: Callable[[int, dict[str, float]], None] | None = None,
    meta: dict | None = None,
) -> nn.Module:
    """Train ``model`` in place for ``settings.steps`` steps (in all); returns it.

    ``batches`` is an iterable of ``(B, 3, H, W)`` batches, or a function ``start ->
    iterable`` that starts the stream at step ``start`` (what a resumed run needs).
    ``on_log(step, numbers)`` runs every ``settings.log_every`` steps with the loss's
    numbers and ``images_per_s``. ``meta`` (JSON) is stored in the checkpoint; a resumed
    run must bring the same. Raises :class:`TrainingInterrupted` after Ctrl-C.
    """
    checkpoint = None if checkpoint is None else Path(checkpoint)
    if resume and checkpoint is None:
        raise NSTError("resume needs a checkpoint file to continue from")
    if not any(p.requires_grad for p in model.parameters()):
        raise NSTError("nothing to train: every weight is frozen; call requires_grad_(True) on "
                       "the parameters to learn")  # fmt: skip
    rank, world, _ = process()
    target = next(model.parameters()).device
    own_group = _start_group(world, target)
    try:
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
        start, spent = _resume(checkpoint, model, optimizer, settings, meta) if resume else (0, 0.0)
        wrapped = _distributed(model, target) if world > 1 else model
        stream = iter(batches(start) if callable(batches) else batches)
        saver = _Saver(checkpoint, model, optimizer, settings, meta, writer=rank == 0,
                       spent=spent)  # fmt: skip
        _loop(wrapped, loss_fn, stream, optimizer, settings, start, saver,
              progress=progress and rank == 0, on_log=on_log, world=world)  # fmt: skip
    finally:
        if own_group:
            torch.distributed.destroy_process_group()
    return model


def _start_group(world: int, target: torch.device) -> bool:
    """Start the process group under torchrun (gloo on CPU, nccl on CUDA); whether we did."""
    if world <= 1 or torch.distributed.is_initialized():
        return False
    if target.type == "cuda":
        torch.cuda.set_device(target)
    torch.distributed.init_process_group("nccl" if target.type == "cuda" else "gloo")
    return True


def _distributed(model: nn.Module, target: torch.device) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    ids = [target.index] if target.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def _loop(model, loss_fn, stream: Iterator, optimizer, settings: TrainSettings, start: int,
          saver: _Saver, *, progress: bool, on_log, world: int) -> None:  # fmt: skip
    """The steps from ``start`` to ``settings.steps``; checkpoints; Ctrl-C."""
    target = next(model.parameters()).device
    bar = tqdm(total=settings.steps, initial=start, disable=not progress, unit="step",
               desc="training", dynamic_ncols=True)  # fmt: skip
    step, updating, began, seen = start, False, time.perf_counter(), 0
    try:
        with _StopRequest() as stop:
            while step < settings.steps:
                batch = next(stream).to(target, non_blocking=True)
                loss, numbers = loss_fn(model, batch, step)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise NSTError(f"the loss became {value} at step {step + 1}: "
                                   "lower the learning rate (--lr)")  # fmt: skip
                updating = True
                for group in optimizer.param_groups:
                    group["lr"] = settings.lr_at(step)
                optimizer.step()
                step, updating = step + 1, False
                seen += len(batch) * world
                rate = seen / (time.perf_counter() - began)
                bar.update(1)
                bar.set_postfix(loss=f"{value:.4g}", img_s=f"{rate:.2f}")
                if on_log is not None and step % settings.log_every == 0:
                    on_log(step, {**numbers, "images_per_s": rate})
                if step % settings.checkpoint_every == 0 or step == settings.steps:
                    saver.save(step)
                if stop.requested(world, target):
                    saver.save(step)
                    raise TrainingInterrupted(step, saver.path)
        if step == start:
            saver.save(step)  # nothing to do (resumed at the end): the file says so anyway
    except TrainingInterrupted:
        raise
    except KeyboardInterrupt:
        if not updating:  # the weights are those of ``step`` steps
            saver.save(step)
        raise TrainingInterrupted(step, saver.path if not updating else None) from None
    finally:
        bar.close()


class _StopRequest:
    """Ctrl-C sets a flag read after each step; a second Ctrl-C interrupts at once.

    Only in the main thread (where Python delivers signals); elsewhere Ctrl-C is left as it
    is. Under torchrun every rank learns of a request from any rank (one all-reduce a step),
    so all stop after the same step.
    """

    def __init__(self) -> None:
        self.flag = False
        self.previous = None

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def _handle(self, _signum, _frame) -> None:
        if self.flag:
            raise KeyboardInterrupt
        self.flag = True
        print("\nstopping after this step (Ctrl-C again to stop at once)", flush=True)

    def requested(self, world: int, target: torch.device) -> bool:
        if world <= 1:
            return self.flag
        flag = torch.tensor([float(self.flag)], device=target)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return bool(flag.item())


# --------------------------------------------------------------------------- checkpoints


class _Saver:
    """Writes checkpoints (only where ``writer``; nowhere without a path), with the training
    seconds so far: ``spent`` before this process (a resumed run's) plus this process's."""

    def __init__(self, path, model, optimizer, settings, meta, *, writer: bool,
                 spent: float = 0.0) -> None:  # fmt: skip
        self.path, self.model, self.optimizer = path, model, optimizer
        self.settings, self.meta, self.writer = settings, meta, writer
        self.spent, self.began = spent, time.perf_counter()

    def save(self, step: int) -> None:
        if self.path is not None and self.writer:
            seconds = self.spent + time.perf_counter() - self.began
            save_checkpoint(self.path, self.model, self.optimizer, step, self.settings, self.meta,
                            seconds=seconds)  # fmt: skip


def save_checkpoint(
    path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer, step: int,
    settings: TrainSettings, meta: dict | None = None, *, seconds: float = 0.0,
) -> Path:  # fmt: skip
    """Weights, optimiser state, step, settings and the training ``seconds`` so far (over
    every resumed run) in one safetensors file, atomically."""
    state = optimizer.state_dict()
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    for index, values in state["state"].items():
        for name, value in values.items():
            tensors[f"optim.{index}.{name}"] = torch.as_tensor(value)
    header = {"step": step, "settings": asdict(settings), "param_groups": state["param_groups"],
              "meta": meta, "seconds": round(seconds, 1)}  # fmt: skip
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_write(path) as tmp:
        save_file(tensors, tmp, metadata={CHECKPOINT_KEY: json.dumps(header)})
    return Path(path)


def training_seconds(checkpoint: str | os.PathLike | None, began: float) -> float:
    """Seconds of training behind a finished run: its checkpoint's count, which adds up every
    resumed run, when there is one; else this process's time since ``began``."""
    if checkpoint is not None and Path(checkpoint).is_file():
        return float(read_checkpoint(checkpoint)[0].get("seconds", 0.0))
    return time.perf_counter() - began


def checkpoint_header(path: str | os.PathLike) -> dict:
    """The header of a checkpoint (step, settings, meta, seconds) without its tensors, or a
    one-line :class:`NSTError`: what a resume is checked against before any work."""
    path = Path(path)
    if not path.is_file():
        raise NSTError(f"{path}: no checkpoint to resume from; start without --resume")
    try:
        with safe_open(path, framework="pt") as handle:
            return json.loads((handle.metadata() or {})[CHECKPOINT_KEY])
    except Exception as err:
        raise NSTError(
            f"{path}: not a readable checkpoint ({type(err).__name__}); delete it and start "
            "afresh without --resume"
        ) from None


def read_checkpoint(path: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor]]:
    """``(header, tensors)`` of a checkpoint, or a one-line :class:`NSTError`."""
    path = Path(path)
    if not path.is_file():
        raise NSTError(f"{path}: no checkpoint to resume from; start without --resume")
    try:
        with safe_open(path, framework="pt") as handle:
            header = json.loads((handle.metadata() or {})[CHECKPOINT_KEY])
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except Exception as err:
        raise NSTError(
            f"{path}: not a readable checkpoint ({type(err).__name__}); delete it and start "
            "afresh without --resume"
        ) from None
    return header, tensors


def _resume(path: Path, model, optimizer, settings: TrainSettings, meta) -> tuple[int, float]:
    """Load ``path`` into ``model`` and ``optimizer``; the step it had reached and the
    training seconds spent to get there."""
    header, tensors = read_checkpoint(path)
    if int(header["step"]) > settings.steps:
        raise NSTError(f"{path}: already trained {header['step']} steps; give steps >= "
                       f"{header['step']} to resume it")  # fmt: skip
    saved = {**_DEFAULTS, **header["settings"]}  # a field added since: its default
    must_match = RESUME_MUST_MATCH + (("steps",) if settings.schedule != "constant" else ())
    for name in must_match:
        if saved.get(name) != getattr(settings, name):
            raise NSTError(
                f"{path}: trained with {name} {saved.get(name)}, not {getattr(settings, name)}; "
                f"resume with the same {name} or start afresh"
            )
    wanted, stored = json.loads(json.dumps(meta)), header.get("meta") or {}
    if meta is not None and stored != wanted:
        differs = sorted(k for k in {**wanted, **stored} if stored.get(k) != wanted.get(k))
        raise NSTError(
            f"{path}: made for another run ({', '.join(differs)} differ); resume with the same "
            "styles and options, or start afresh"
        )
    weights = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise NSTError(f"{path}: the weights do not fit this model ({first})") from None
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": header["param_groups"]})
    return int(header["step"]), float(header.get("seconds", 0.0))
