"""The experiment store: SQLModel tables, opening a database, and the one module of queries."""
