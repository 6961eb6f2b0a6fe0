"""Switch a SQLite database to write-ahead logging, so pages read while the worker writes.

WAL is a property of the database file, so it is set once here rather than on every connection:
setting it per connection races when several connections open at once. Other databases: no-op.
"""

from django.db import migrations


def enable_wal(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL;")


class Migration(migrations.Migration):
    atomic = False  # SQLite refuses to change the journal mode inside a transaction

    dependencies = [("feed", "0001_initial")]

    operations = [migrations.RunPython(enable_wal, migrations.RunPython.noop)]
