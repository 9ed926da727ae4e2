"""The ``routing`` command's subcommands that plan cohorts: ``batch`` and ``report``.

They read problem files, plan and write through :mod:`routing.outputs`; only they and
:mod:`routing.cli` write to the terminal.
"""
