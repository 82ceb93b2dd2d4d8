"""One module per paper section: its settings per preset, its runs and its result rows."""
