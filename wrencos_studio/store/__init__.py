"""Everything that must last: one SQLite file, its migrations, and the queries. No Qt."""

from wrencos_studio.store.database import Store, StoreClosedError, StoreError

__all__ = ["Store", "StoreClosedError", "StoreError"]
