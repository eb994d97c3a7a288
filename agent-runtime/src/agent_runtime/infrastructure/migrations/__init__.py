"""Alembic migrations, shipped inside the package so an installed runtime can migrate itself."""
