"""Exception hierarchy of pytest-flakebench.

FlakebenchError
 +-- TemplateError    a benchmark template is invalid (found before any load is sent)
 +-- TargetError      the database under test cannot be reached, or a table/column/SQL is wrong
 +-- StoreError       the results store cannot be reached, is not initialised, or a write failed
 +-- ConfigError      an option, ini key, environment variable or named target is invalid
"""

from __future__ import annotations


class FlakebenchError(Exception):
    """Base class of every error this plugin raises on purpose."""


class TemplateError(FlakebenchError, ValueError):
    """A benchmark template is invalid; the message names the field, the value and the fix."""


class TargetError(FlakebenchError):
    """The target database, table, column or SQL is unusable; raised before load is sent."""


class StoreError(FlakebenchError):
    """The results store cannot be used."""


class ConfigError(FlakebenchError, ValueError):
    """An option, ini key, environment variable or named target is invalid."""
