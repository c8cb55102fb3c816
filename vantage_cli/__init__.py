"""``vantage-cli``: the application CLI, working on panorama-cli project folders as they are."""
