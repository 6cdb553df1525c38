"""Storage: tables, migrations, the unit of work and its repositories."""
