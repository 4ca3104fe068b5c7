#!/usr/bin/env python
import os
import sys

# Commands that only read and write source files (migrations, message catalogues) need none of
# production's secrets or services: they run on the test settings unless told otherwise, so that
# `manage.py makemigrations --check` works on a fresh checkout.
SOURCE_COMMANDS = {"makemigrations", "makemessages", "compilemessages"}


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    default = "config.settings_test" if command in SOURCE_COMMANDS else "config.settings"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", default)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
