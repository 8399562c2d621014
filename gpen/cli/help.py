"""Help formatting shared by the console commands: every option's default is shown in `--help`."""

from __future__ import annotations

import argparse


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's defaults formatter, minus the noise: no "(default: None)" on required or optional
    values without a default, and none on on/off flags (they are off unless given)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or isinstance(action.default, bool) or action.help is None:
            return action.help or ""
        return super()._get_help_string(action)
