"""Static typing checks (mypy only; nothing here is executed by pytest)."""
