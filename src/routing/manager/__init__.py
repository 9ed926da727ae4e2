"""The manager's report of a batch: tables, figures (JSON), charts, one self-contained HTML page."""
