"""The training loop and the style loss: learning, checkpoints, resume, Ctrl-C, settings, DDP."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nst_utils.errors import NSTError
from nst_utils.networks import fast_style, photos, training
from nst_utils.networks.fast_style import StyleLoss, train_style
from nst_utils.networks.painter import StyleNet
from nst_utils.networks.training import TrainingInterrupted, TrainSettings, read_checkpoint
from nst_utils.paper.pipeline import picture

REPO = Path(__file__).resolve().parents[1]
TINY = TrainSettings(size=32, batch=1, steps=4, lr=1e-3, seed=0, checkpoint_every=2, log_every=1)


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_training_lowers_the_papers_loss_on_photos_it_has_not_seen(vgg16):
    torch.manual_seed(0)
    settings = TrainSettings(size=32, batch=2, steps=30, lr=1e-2, log_every=100)
    model = StyleNet(channels=8, blocks=1)
    loss = StyleLoss(vgg16, [picture("swirls", 32, "cpu")])
    held_out = next(photos.crops([photos.bundled_images()["chelsea"]], 32, 4, seed=9))

    def measured() -> float:
        with torch.no_grad():
            return float(loss.terms(model, held_out, 0).total) / len(held_out)

    before = measured()
    train_style(["swirls"], vgg16, settings, model=model, progress=False)
    after = measured()
    assert after < 0.9 * before, (before, after)  # measured: 0.77 of it in 30 steps


def _train(vgg, settings=TINY, **kwargs) -> StyleNet:
    return train_style(["swirls"], vgg, settings, progress=False, **kwargs)


@pytest.fixture
def random_vgg16(random_vgg16):
    """The seeded random VGG-16, used once: its first objective evaluation moves the
    weights to the channels-last layout (:func:`nst_utils.engine.speed.channels_last`), which
    rounds differently, so only runs after that one repeat bit for bit."""
    _train(random_vgg16, dataclasses.replace(TINY, steps=1))
    return random_vgg16


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(random_vgg16, tmp_path):
    straight = _train(random_vgg16)
    checkpoint = tmp_path / "run.safetensors"
    half = _train(random_vgg16, dataclasses.replace(TINY, steps=2), checkpoint=checkpoint)
    assert read_checkpoint(checkpoint)[0]["step"] == 2
    assert not _same(_weights(half), _weights(straight))
    resumed = _train(random_vgg16, checkpoint=checkpoint, resume=True)
    assert _same(_weights(resumed), _weights(straight))
    assert read_checkpoint(checkpoint)[0]["step"] == 4


def test_the_training_time_adds_up_over_resumed_runs(random_vgg16, tmp_path, monkeypatch):
    """A model's record says how long it trained in all, not only since the last --resume."""
    clock = itertools.count(start=1000.0, step=5.0)  # every reading of the clock: 5 s later
    monkeypatch.setattr(training.time, "perf_counter", lambda: next(clock))
    checkpoint = tmp_path / "run.safetensors"
    _train(random_vgg16, dataclasses.replace(TINY, steps=2), checkpoint=checkpoint)
    first = read_checkpoint(checkpoint)[0]["seconds"]
    assert first > 0
    _train(random_vgg16, checkpoint=checkpoint, resume=True)
    assert read_checkpoint(checkpoint)[0]["seconds"] > first
    assert training.training_seconds(checkpoint, began=0.0) == read_checkpoint(checkpoint)[0][
        "seconds"]  # fmt: skip


def test_resume_refuses_another_runs_checkpoint(random_vgg16, tmp_path):
    checkpoint = tmp_path / "run.safetensors"
    _train(random_vgg16, dataclasses.replace(TINY, steps=2), checkpoint=checkpoint)
    with pytest.raises(NSTError, match="batch"):
        _train(random_vgg16, dataclasses.replace(TINY, batch=2), checkpoint=checkpoint,
               resume=True)  # fmt: skip
    with pytest.raises(NSTError, match="styles"):
        train_style(["brick"], random_vgg16, TINY, checkpoint=checkpoint, resume=True,
                    progress=False)  # fmt: skip
    with pytest.raises(NSTError, match="photos"):  # another training set
        _train(random_vgg16, checkpoint=checkpoint, resume=True,
               photos=photos.photo_paths()[:-1])  # fmt: skip
    _train(random_vgg16, checkpoint=checkpoint, resume=True, photos=photos.photo_paths())
    with pytest.raises(NSTError, match="no checkpoint"):
        _train(random_vgg16, checkpoint=tmp_path / "none.safetensors", resume=True)


@pytest.mark.parametrize("schedule", training.SCHEDULES)
def test_each_step_moves_a_weight_by_that_steps_learning_rate(schedule):
    """Under a constant gradient Adam moves a weight by its learning rate every step (m / √v
    = 1), so the distance travelled is the sum of the schedule's rates: the loop reads it."""
    settings = TrainSettings(steps=10, lr=0.1, schedule=schedule, log_every=100)
    weight = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(weight.weight)
    training.train(weight, lambda model, batch, step: (model.weight.sum(), {}),
                   itertools.repeat(torch.zeros(1)), settings, progress=False)  # fmt: skip
    rates = [settings.lr_at(step) for step in range(settings.steps)]
    assert -float(weight.weight.detach()) == pytest.approx(sum(rates), rel=1e-4)
    if schedule == "cosine":
        assert rates[0] == 0.1 and rates == sorted(rates, reverse=True) and rates[-1] < 0.003
    else:
        assert rates == [0.1] * 10


def test_a_cosine_run_resumes_on_its_schedule_and_only_with_its_steps(random_vgg16, tmp_path,
                                                                      monkeypatch):  # fmt: skip
    cosine = dataclasses.replace(TINY, schedule="cosine")
    straight = _train(random_vgg16, cosine)
    checkpoint = tmp_path / "run.safetensors"
    original = fast_style.StyleLoss.__call__
    with monkeypatch.context() as patched:
        patched.setattr(fast_style.StyleLoss, "__call__", lambda self, model, batch, step:
                        _InterruptAt(lambda *a: original(self, *a), 2, signal_it=False)(
                            model, batch, step))  # fmt: skip
        with pytest.raises(TrainingInterrupted):
            _train(random_vgg16, cosine, checkpoint=checkpoint)
    with pytest.raises(NSTError, match="steps"):  # another length: another schedule
        _train(random_vgg16, dataclasses.replace(cosine, steps=6), checkpoint=checkpoint,
               resume=True)  # fmt: skip
    with pytest.raises(NSTError, match="schedule"):
        _train(random_vgg16, checkpoint=checkpoint, resume=True)
    resumed = _train(random_vgg16, cosine, checkpoint=checkpoint, resume=True)
    assert _same(_weights(resumed), _weights(straight))


def test_a_checkpoint_from_before_schedules_resumes_as_constant(random_vgg16, tmp_path):
    from safetensors.torch import save_file

    checkpoint = tmp_path / "run.safetensors"
    _train(random_vgg16, dataclasses.replace(TINY, steps=2), checkpoint=checkpoint)
    header, tensors = read_checkpoint(checkpoint)
    del header["settings"]["schedule"]  # as written before the field existed
    save_file(tensors, checkpoint, metadata={training.CHECKPOINT_KEY: json.dumps(header)})
    with pytest.raises(NSTError, match="schedule"):
        _train(random_vgg16, dataclasses.replace(TINY, schedule="cosine"),
               checkpoint=checkpoint, resume=True)  # fmt: skip
    _train(random_vgg16, checkpoint=checkpoint, resume=True)
    assert read_checkpoint(checkpoint)[0]["step"] == TINY.steps


class _InterruptAt:
    """A loss that stops the run at ``step``: by raising, or by a real SIGINT."""

    def __init__(self, loss, step: int, *, signal_it: bool) -> None:
        self.loss, self.step, self.signal_it = loss, step, signal_it

    def __call__(self, model, batch, step):
        if step == self.step:
            if self.signal_it:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: the step still completes
            else:
                raise KeyboardInterrupt
        return self.loss(model, batch, step)


@pytest.mark.parametrize("signal_it", [False, True], ids=["KeyboardInterrupt", "SIGINT"])
def test_ctrl_c_leaves_a_checkpoint_that_resumes(random_vgg16, tmp_path, monkeypatch, signal_it):
    original = fast_style.StyleLoss.__call__
    monkeypatch.setattr(
        fast_style.StyleLoss, "__call__",
        lambda self, model, batch, step: _InterruptAt(
            lambda *a: original(self, *a), 2, signal_it=signal_it)(model, batch, step),
    )  # fmt: skip
    checkpoint = tmp_path / "run.safetensors"
    torch.manual_seed(TINY.seed)
    model = StyleNet()
    with pytest.raises(TrainingInterrupted) as stopped:
        _train(random_vgg16, model=model, checkpoint=checkpoint)
    done = 3 if signal_it else 2  # a signal lets step 3 finish; a raise inside it does not
    assert stopped.value.step == done and stopped.value.checkpoint == checkpoint
    header, tensors = read_checkpoint(checkpoint)
    assert header["step"] == done
    saved = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    assert _same(saved, _weights(model))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    monkeypatch.undo()
    resumed = _train(random_vgg16, checkpoint=checkpoint, resume=True)
    assert _same(_weights(resumed), _weights(_train(random_vgg16)))


def test_a_loss_that_becomes_nan_stops_with_advice():
    model = StyleNet(channels=4, blocks=0)

    def loss_fn(model, batch, step):
        return model(batch).sum() * float("nan"), {}

    with pytest.raises(NSTError, match="lower the learning rate"):
        training.train(model, loss_fn, itertools.repeat(torch.rand(1, 3, 16, 16)), TINY,
                       progress=False)  # fmt: skip


def test_every_train_setting_has_an_effect(random_vgg16, monkeypatch):
    changed = {"size": 48, "batch": 2, "steps": 3, "lr": 1e-2, "seed": 1, "checkpoint_every": 3,
               "log_every": 2, "schedule": "cosine"}  # fmt: skip
    # started_from names the weights the caller loaded (nst train-style --from): it changes
    # what a resume accepts and the record, tested in test_cli_fast_style
    assert set(changed) | {"started_from"} == {f.name for f in dataclasses.fields(TrainSettings)}
    base = dataclasses.replace(TINY, steps=2, checkpoint_every=1, log_every=1)

    def fingerprint(settings: TrainSettings):
        shapes, saves, logs = [], [], []
        original = fast_style.StyleLoss.__call__

        def spy(self, model, batch, step):
            shapes.append(tuple(batch.shape))
            return original(self, model, batch, step)

        monkeypatch.setattr(fast_style.StyleLoss, "__call__", spy)
        monkeypatch.setattr(training, "save_checkpoint", lambda *a, **_: saves.append(a[3]))
        model = _train(random_vgg16, settings, checkpoint=Path("unused.safetensors"),
                       on_log=lambda step, numbers: logs.append(step))  # fmt: skip
        return _weights(model), shapes, saves, logs

    weights, *rest = fingerprint(base)
    for name, value in changed.items():
        other_weights, *other_rest = fingerprint(dataclasses.replace(base, **{name: value}))
        assert not (_same(weights, other_weights) and rest == other_rest), name


def test_every_loss_setting_changes_the_loss(random_vgg16, monkeypatch):
    from nst_utils.paper.pipeline import Settings

    torch.manual_seed(0)
    model = StyleNet(channels=4, blocks=0, skip=False)  # far from the photo: every term counts
    photos_ = torch.rand(2, 3, 32, 32)
    changed = {"content_weight": 3.0, "style_weight": 7.0, "tv_weight": 5.0,
               "content_layers": ("relu3_1",), "style_layers": ("relu1_1",),
               "content_reduction": "paper", "precision": "bf16",
               "style_layer_weights": (4.0, 0.25, 0.25, 0.25, 0.25)}  # fmt: skip
    # fast is the speed switch: the same value sooner (tests/test_speed.py)
    assert set(changed) | {"style_scale", "fast"} == set(fast_style.LOSS_FIELDS)

    def value(settings: Settings) -> float:
        loss = StyleLoss(random_vgg16, [picture("swirls", 32, "cpu")], settings)
        with torch.no_grad():
            return float(loss(model, photos_, 0)[0])

    base = value(Settings())
    for name, new in changed.items():
        assert value(Settings().updated(**{name: new})) != pytest.approx(base, rel=1e-6), name
    # the painting's size is train_style's business: style_scale sizes it
    sizes = []
    monkeypatch.setattr(fast_style, "picture", lambda s, size, d: sizes.append(size) or
                        picture(s, size, d))  # fmt: skip
    for scale in (1.0, 0.75):
        _train(random_vgg16, dataclasses.replace(TINY, steps=1),
               loss_settings=Settings(style_scale=scale))  # fmt: skip
    assert sizes == [32, 24]


def test_settings_refuse_impossible_values():
    for bad in ({"steps": 0}, {"batch": 0}, {"lr": 0.0}, {"lr": float("nan")}, {"size": 2.5},
                {"schedule": "linear"}):
        with pytest.raises(NSTError):
            TrainSettings(**bad)


def test_each_step_trains_the_styles_in_turn(random_vgg16):
    paintings = [picture(name, 32, "cpu") for name in ("swirls", "brick", "hubble_deep_field")]
    loss = StyleLoss(random_vgg16, paintings)
    assert [loss.style_at(step) for step in range(4)] == [0, 1, 2, 0]
    ranked = StyleLoss(random_vgg16, paintings, rank=1, world=2)
    assert [ranked.style_at(step) for step in range(3)] == [1, 0, 2]


def test_two_processes_under_torchrun_keep_identical_weights(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    script = REPO / "tests" / "ddp_train.py"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", str(script), str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [load_file(tmp_path / f"rank{r}.safetensors") for r in range(2)]
    initial = load_file(tmp_path / "initial.safetensors")
    assert _same(ranks[0], ranks[1])  # gradients averaged: one model
    assert not _same(ranks[0], initial)  # and it did train
    losses = [json.loads((tmp_path / f"losses{r}.json").read_text()) for r in range(2)]
    assert losses[0] != losses[1]  # each rank saw its own photos
    written = [p.name for p in tmp_path.glob("*.checkpoint.safetensors")]
    assert written == ["m.checkpoint.safetensors"]  # by rank 0 alone


def test_a_frozen_model_or_a_wrong_number_of_paintings_is_refused(random_vgg16):
    frozen = StyleNet(channels=4, blocks=0).requires_grad_(False)
    with pytest.raises(NSTError, match="frozen"):
        _train(random_vgg16, model=frozen)
    with pytest.raises(NSTError, match="one painting per style"):
        _train(random_vgg16, model=StyleNet(styles=2, channels=4, blocks=0))


def test_only_the_tables_of_a_new_style_learn_when_the_rest_is_frozen(random_vgg16):
    from nst_utils.networks.painter import add_style, style_tables

    torch.manual_seed(0)
    base = StyleNet(styles=1, channels=4, blocks=1)
    grown = add_style(base, "brick").requires_grad_(False)
    for table in style_tables(grown):
        table.requires_grad_(True)
    before = _weights(grown)

    class OnlyNewStyle(StyleLoss):
        def style_at(self, step):  # the painting is style 1 of the model
            return 0

        def terms(self, model, photos_, style):
            mix = torch.tensor([[0.0, 1.0]])
            return self.objective(photos_, style)(model(photos_, mix))

    loss = OnlyNewStyle(random_vgg16, [picture("brick", 32, "cpu")])
    batches = photos.crops(photos.photo_paths(), 32, 1)
    training.train(grown, loss, batches, dataclasses.replace(TINY, steps=2), progress=False)
    after = _weights(grown)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.endswith((".gamma", ".beta")) for k in changed)
    for key in changed:  # the first style's row is untouched
        assert torch.equal(before[key][0], after[key][0])
