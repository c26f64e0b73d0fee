"""The ``napari-cuts`` command line: subcommands and their flags."""
