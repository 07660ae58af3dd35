"""Errors that the platform reports to people as one clear line."""


class MsaError(Exception):
    """Base of errors that the CLI prints as one line, without a traceback."""


class ConfigError(MsaError):
    """The system description, settings or command-line input is wrong."""
