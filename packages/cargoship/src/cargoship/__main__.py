"""``python -m cargoship``: the same as the ``cargoship`` command."""

from cargoship.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    main(prog_name="cargoship")
