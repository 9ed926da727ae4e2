"""The manager's report of a batch: tables, figures (JSON), charts and one self-contained HTML file."""
