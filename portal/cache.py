"""Django's database cache with an increment that cannot be raced, for the embedded default.

Without Redis (`make run` on SQLite) the lockouts and rate limits live in the database cache in the
SQLite file, so every gunicorn worker counts together. Django's own DatabaseCache.incr reads, adds
and writes back (two processes can both read 4 and both write 5) and resets the expiry to the default
timeout. Here the read and the write are one transaction that holds the write lock (SQLite's
IMMEDIATE transactions, which the portal's SQLite settings use; `SELECT … FOR UPDATE` elsewhere), and
the row keeps its expiry, so a fixed window stays fixed."""

from __future__ import annotations

import base64
import pickle

from django.core.cache.backends.db import DatabaseCache
from django.db import connections, models, router, transaction
from django.utils import timezone


class AtomicDatabaseCache(DatabaseCache):
    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote_name = connection.ops.quote_name
        table = quote_name(self._table)
        lock = "" if connection.vendor == "sqlite" else " FOR UPDATE"
        expression = models.Expression(output_field=models.DateTimeField())
        converters = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(f"SELECT {quote_name('value')}, {quote_name('expires')} FROM {table} "
                           f"WHERE {quote_name('cache_key')} = %s{lock}", [key])
            row = cursor.fetchone()
            if row is None:
                raise ValueError(f"Key '{key}' not found")
            value, expires = row
            for converter in converters:
                expires = converter(expires, expression, connection)
            if expires < timezone.now():
                raise ValueError(f"Key '{key}' not found")
            new_value = pickle.loads(base64.b64decode(connection.ops.process_clob(value).encode())) + delta
            encoded = base64.b64encode(pickle.dumps(new_value, self.pickle_protocol)).decode("latin1")
            cursor.execute(f"UPDATE {table} SET {quote_name('value')} = %s WHERE {quote_name('cache_key')} = %s",
                           [encoded, key])
        return new_value
