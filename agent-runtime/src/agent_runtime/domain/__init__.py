"""The runtime's domain: entities, their rules and the events they raise. Pure Python, no I/O.

import-linter (``.importlinter``) keeps SQLAlchemy, FastAPI, HTTP clients and the outer layers out of here.
"""
