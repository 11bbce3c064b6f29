"""``ErrorHandlingGroup``: the ``mtlzoo`` group, which turns unexpected exceptions into one-line errors."""

from __future__ import annotations

import traceback

import click

#: Exceptions whose messages are written for users: shown without their type name.
NATURAL_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
                  PermissionError)
#: Longest error line printed without ``--debug`` (characters of the exception's message).
MAX_MESSAGE = 300
#: Longest message of a click error (``BadParameter``, ``ClickException``; they may list paths on several lines).
MAX_CLICK_MESSAGE = 4000
#: How to see the traceback, appended to every converted error.
DEBUG_HINT = "(rerun as `mtlzoo --debug ...` or with MTLZOO_DEBUG=1 for the traceback)"


class ErrorHandlingGroup(click.Group):
    """A click group whose commands fail with one ``Error:`` line instead of a traceback.

    Click's own errors (``UsageError``, ``BadParameter``, ``ClickException``)
    and exits pass through unchanged (messages past :data:`MAX_CLICK_MESSAGE` characters cut). Any other exception raised by the group
    or one of its (sub)commands becomes ``Error: <Type>: <message> <hint>``
    and exit status 1; errors whose messages are written for users
    (:data:`NATURAL_ERRORS`: ``ValueError``, ``FileNotFoundError``, ...) drop
    the type name, and ``mtlzoo.data.DataNotFoundError`` keeps its list of the
    paths it looked at. When the group's ``debug`` parameter is true (the
    ``--debug`` flag of ``mtlzoo``), the full traceback is printed instead.
    ``KeyboardInterrupt`` (Ctrl+C) exits with status 130, as shells expect.

    Args:
        *args, **kwargs: as :class:`click.Group`.

    Example:
        >>> @click.group(cls=ErrorHandlingGroup)
        ... @click.option("--debug", is_flag=True)
        ... def cli(debug):
        ...     pass
        >>> @cli.command()
        ... def fail():
        ...     raise RuntimeError("disk full")
        >>> from click.testing import CliRunner
        >>> result = CliRunner().invoke(cli, ["fail"])
        >>> result.exit_code, result.stderr.splitlines()[0][:34]
        (1, 'Error: RuntimeError: disk full (re')
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.ClickException as error:  # its message may echo user input: keep it bounded
            if len(error.message) > MAX_CLICK_MESSAGE:
                error.message = error.message[:MAX_CLICK_MESSAGE].rstrip() + " [...]"
            raise
        except (click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("\nInterrupted.", err=True)
            raise SystemExit(130) from None
        except Exception as error:  # noqa: BLE001 - every other error gets the one-line treatment
            if ctx.params.get("debug"):
                click.echo(traceback.format_exc(), err=True, nl=False)
                raise SystemExit(1) from None
            raise click.ClickException(error_message(error)) from None


def error_message(error: BaseException) -> str:
    """The text after ``Error:`` for an unexpected exception: one line, unless it lists missing data files.

    Args:
        error: the exception.

    Example:
        >>> error_message(RuntimeError("bad\\nthings"))[:38]
        'RuntimeError: bad [...] (rerun as `mtl'
        >>> error_message(ValueError("unknown name 'x'")).split(" (rerun")[0]
        "unknown name 'x'"
    """
    from mtlzoo.data.data_not_found_error import DataNotFoundError

    if isinstance(error, DataNotFoundError):  # a list of the paths looked at and how to get the files
        return str(error)
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    message = lines[0] if lines else ""
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE].rstrip() + " [...]"
    elif len(lines) > 1:
        message += " [...]"
    if not isinstance(error, NATURAL_ERRORS) or not message:
        message = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return f"{message} {DEBUG_HINT}"
