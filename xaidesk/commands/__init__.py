"""Headless commands that live in their own module (see ``xaidesk.cli.COMMAND_MODULES``)."""
