"""One error tree for Sideman.

Every error a user can see derives from :class:`SidemanError`; each subclass also
inherits the builtin that fits, so callers may catch either. Messages name the
file, line or field, what is allowed, and what was received, e.g.
``rigs/duo.yaml:14 band.bass.channel must be 1..16, got 17``.
"""

from __future__ import annotations


class SidemanError(Exception):
    """Root of every error Sideman raises on purpose."""


class RigError(SidemanError, ValueError):
    """A rig file is missing, unreadable or invalid."""


class InputFileError(SidemanError, ValueError):
    """An input file (MIDI, chart, audio) is not what it claims to be."""


class DeviceError(SidemanError, OSError):
    """An audio or MIDI device/port/server cannot be opened or was lost."""


class ModelError(SidemanError, RuntimeError):
    """A model file is missing, corrupt or has the wrong shape."""


class OutputExistsError(SidemanError, FileExistsError):
    """An output would be overwritten without --force."""


class StyleError(SidemanError, ValueError):
    """A band style file is missing, unreadable or invalid."""


class ChartError(SidemanError, ValueError):
    """A chord chart file is missing, unreadable or invalid."""


class OutputFileError(SidemanError, OSError):
    """An output file or folder cannot be written (no permission, disk full, not a folder)."""
