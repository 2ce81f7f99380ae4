"""The headless commands, one module each (``xaidesk.cli.COMMAND_MODULES`` lists them); ``common`` holds what they share."""
