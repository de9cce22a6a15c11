"""Which options each mode of a command reads; the others are refused (issue 31).

``nst paint`` paints with a trained network (``--model``) or with any painting (``--style``),
or lists the shipped networks (``--list``); ``nst video`` paints by one of four methods. An
option that the chosen mode does not read would be accepted and silently change nothing, so
each such command declares a :class:`Modes` table, one :class:`Rule` per option, and refuses
a foreign option in one line, a usage mistake (exit 2), before any work:

    nst paint: error: --alpha is for --style; a trained network has no strength setting

Options whose default the table must tell from "not given" default to ``None`` in the
parser; :func:`fill_defaults` puts the real default in after the check. Torch-free.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import NSTError

#: Option names that are not ``--`` + the destination with dashes.
FLAGS = {"output": "-o", "content": "CONTENT", "style_masks": "--style-mask",
         "paint_styles": "--style", "start_from": "--from"}  # fmt: skip


class UsageError(NSTError):
    """A usage mistake found after parsing (an option its mode does not read, a missing
    one): one line and exit status 2, as argparse's own."""


def flag(dest: str) -> str:
    """The option as the user types it: ``style_size`` -> ``--style-size``."""
    return FLAGS.get(dest, "--" + dest.replace("_", "-"))


def given(args: argparse.Namespace, dest: str) -> bool:
    """Whether the user gave ``dest`` (defaults are ``None``, ``False`` or empty)."""
    value = getattr(args, dest, None)
    return value is not None and value is not False and value != []


@dataclass(frozen=True)
class Rule:
    """One option: the modes that read it, who that is in words (``owner``), and why the
    others do not (``why``; ``why_in`` for one mode in particular)."""

    read_by: tuple[str, ...]
    owner: str
    why: str = ""
    why_in: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Modes:
    """A command's modes and, per option destination, its :class:`Rule`."""

    command: str
    rules: Mapping[str, Rule]
    #: A reason that holds for every option a mode refuses (``--list``: reads nothing else).
    why_in: Mapping[str, str] = field(default_factory=dict)

    def reads(self, mode: str) -> set[str]:
        """The options ``mode`` reads."""
        return {dest for dest, rule in self.rules.items() if mode in rule.read_by}

    def check(self, args: argparse.Namespace, mode: str) -> None:
        """Refuse, as a :class:`UsageError`, the first given option ``mode`` does not read."""
        for dest, rule in self.rules.items():
            if given(args, dest) and mode not in rule.read_by:
                why = self.why_in.get(mode) or rule.why_in.get(mode) or rule.why
                raise UsageError(f"{flag(dest)} is for {rule.owner}" + (f"; {why}" if why else ""))


def fill_defaults(args: argparse.Namespace, defaults: Mapping[str, object]) -> None:
    """Put each option's real default in where it was not given (after :meth:`Modes.check`)."""
    for dest, value in defaults.items():
        if getattr(args, dest, None) is None:
            setattr(args, dest, value)
