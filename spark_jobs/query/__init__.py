"""Running SQL over the lake offline (DuckDB) and presenting any engine's results the same way."""
